/* image_elf: what an image build needs to know about a host ELF file (a program, a kernel). */
#ifndef SMOLVM_IMAGE_ELF_H
#define SMOLVM_IMAGE_ELF_H

#include <stdbool.h>

struct image_elf_facts {
	bool dynamic;	/* names an interpreter: needs shared libraries */
	bool pvh;	/* has the Xen PVH entry note: QEMU can boot it as a kernel */
};

/* Read the program headers of a 64-bit ELF file; -1 with err_set() if it is not one. */
int image_elf_inspect(const char *path, struct image_elf_facts *facts);

#endif
