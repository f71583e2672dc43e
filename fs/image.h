/* image: building guest images and finding their files under $SMOLVM_HOME/images/<kind>/. */
#ifndef SMOLVM_IMAGE_H
#define SMOLVM_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* The kind `smolvm image build` and `smolvm create` use unless told otherwise. */
#define IMAGE_DEFAULT_KIND "tiny"

/* Is kind one of the kinds this build of smolvm knows how to make? */
bool image_kind_known(const char *kind);

/* A complete image of this kind is built (vmlinuz, initrd.img, root.img, host key, manifest). */
bool image_exists(const char *kind);

/* Path of a file in the image directory, e.g. image_file("tiny", "vmlinuz"). Newly allocated. */
char *image_file(const char *kind, const char *name);

/*
 * 0 if the image and the per-install SSH user key are there; else -1 with
 * err_set() saying what to run ("no image 'tiny' yet: run `smolvm image
 * build` first").
 */
int image_require(const char *kind);

/*
 * Build the image of this kind, printing numbered progress on stderr.
 * Without force this is a no-op when the built image is from the same
 * recipe, guest init and user key. The new image is made next to the old
 * one and swapped in at the end, so a failed build leaves the old one.
 */
int image_build(const char *kind, bool force);

/* One built image, as read from its manifest. */
struct image_info {
	char kind[32];
	int64_t built;			/* wall-clock seconds */
	char kernel[64];		/* kernel release, e.g. "6.1.0-57-amd64" */
	char kernel_package[96];	/* e.g. "linux-image-6.1.0-57-amd64 6.1.192-3" */
	int64_t size;			/* bytes of vmlinuz + initrd.img + root.img */
};

/* All built images, sorted by kind. *out must be freed. */
int image_list(struct image_info **out, size_t *n);

#endif
