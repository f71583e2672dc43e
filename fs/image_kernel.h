/*
 * image_kernel: the guest kernel of an image, from Debian's kernel package:
 * fetching the package into the cache, then the kernel (as a PVH ELF where it
 * can) and the modules the guest loads, with their dependencies.
 */
#ifndef SMOLVM_IMAGE_KERNEL_H
#define SMOLVM_IMAGE_KERNEL_H

#include "fs/image_build.h"

/* Step: find the current kernel package in apt's lists and download it unless cached. */
int image_kernel_fetch(struct build *b);

/* Step: unpack it, install vmlinuz, and the modules with modules.dep and /etc/smolvm/modules
 * into both the root and the initrd's tree (which gets only what mounts the root). */
int image_kernel_install(struct build *b);

#endif
