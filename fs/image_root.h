/*
 * image_root: the guest's file tree of an image: host programs with the
 * shared libraries they need, busybox and its applets, /etc and /init; and
 * making the image's two boot files: root.img (the tree, the sandboxes'
 * shared read-only base) and initrd.img (just enough to mount it).
 */
#ifndef SMOLVM_IMAGE_ROOT_H
#define SMOLVM_IMAGE_ROOT_H

#include "fs/image_build.h"

/* Host files the programs step copies; recipes list them as needs. */
#define IMAGE_ROOT_SFTP_SERVER "/usr/lib/openssh/sftp-server"
#define IMAGE_ROOT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* Step: the static busybox at /bin/busybox and a symlink per applet. */
int image_root_install_busybox(struct build *b);

/* Step: dropbear, sftp-server and curl with their libraries, and the CA bundle with the
 * egress proxy's CA added (image_keys_add_proxy_ca). */
int image_root_install_programs(struct build *b);

/* Step: the directories, /etc files and /init the guest boots with. */
int image_root_install_config(struct build *b);

/* Step: initrd.img, an uncompressed newc cpio of the initrd's tree (the modules that mount
 * the root), its /init (fs/guest/boot) and busybox; the tree is then removed. */
int image_root_pack_initrd(struct build *b);

/* Step: root.img, the guest's tree as a read-only ext4 file system (mke2fs -d, no mount
 * needed), every file owned by root; the tree is then removed. */
int image_root_make_disk(struct build *b);

#endif
