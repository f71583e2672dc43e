/* paths: where smolvm keeps its state and finds its data files. */
#ifndef SMOLVM_PATHS_H
#define SMOLVM_PATHS_H

/*
 * $SMOLVM_HOME, else $XDG_STATE_HOME/smolvm, else ~/.local/state/smolvm.
 * Layout below it:
 *   vms/<id>/       one sandbox: record.json, qmp.sock, console.log, qemu.log
 *   images/<kind>/  a built guest image: vmlinuz, initrd.img, host key, manifest.json
 *   keys/           per-install keys: the SSH user key (id_ed25519) and the guest
 *                   host key that every image carries (guest_host_ed25519)
 *   cache/          downloaded packages for image builds
 */
const char *paths_home(void);

/* Each returns a newly allocated string. */
char *paths_vms_dir(void);
char *paths_vm_dir(const char *id);
char *paths_vm_file(const char *id, const char *name);
char *paths_image_dir(const char *kind);
char *paths_keys_dir(void);
char *paths_cache_dir(void);

/*
 * The directory holding read-only data (themes/, fs/guest/): $SMOLVM_DATADIR,
 * else <exe>/../share/smolvm when installed, else the source tree next to
 * the binary. Returns NULL (with err_set) if none has themes/.
 */
const char *paths_data_dir(void);

/* Reset cached values (tests change the environment between cases). */
void paths_reset(void);

#endif
