#include "fs/image_elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/util.h"

/* from Xen's public/elfnote.h: the 32-bit entry point a PVH boot jumps to */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Walk the notes of one PT_NOTE segment, looking for Xen's PVH entry point. */
static bool notes_have_pvh(int fd, const Elf64_Phdr *ph)
{
	size_t len = ph->p_filesz > 65536 ? 65536 : (size_t)ph->p_filesz;
	char *buf = xmalloc(len);
	bool found = false;

	if (pread(fd, buf, len, (off_t)ph->p_offset) == (ssize_t)len) {
		for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= len; ) {
			Elf64_Nhdr nh;
			memcpy(&nh, buf + at, sizeof nh);
			const char *name = buf + at + sizeof nh;
			size_t next = at + sizeof nh + ((nh.n_namesz + 3) & ~3u) +
				      ((nh.n_descsz + 3) & ~3u);
			if (next > len)
				break;
			if (nh.n_namesz == 4 && !memcmp(name, "Xen", 4) &&
			    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY)
				found = true;
			at = next;
		}
	}
	free(buf);
	return found;
}

int image_elf_inspect(const char *path, struct image_elf_facts *facts)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	int rc = -1;

	memset(facts, 0, sizeof *facts);
	if (fd < 0) {
		err_set("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64) {
		err_set("%s is not a 64-bit ELF file", path);
		goto out;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		off_t at = (off_t)eh.e_phoff + (off_t)i * eh.e_phentsize;
		if (pread(fd, &ph, sizeof ph, at) != sizeof ph) {
			err_set("%s: truncated ELF program headers", path);
			goto out;
		}
		if (ph.p_type == PT_INTERP)
			facts->dynamic = true;
		if (ph.p_type == PT_NOTE && notes_have_pvh(fd, &ph))
			facts->pvh = true;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
