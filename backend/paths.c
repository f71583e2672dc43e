#include "backend/paths.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

static char *home;
static char *data_dir;

const char *paths_home(void)
{
	const char *env;

	if (home)
		return home;
	if ((env = getenv("SMOLVM_HOME")) && *env)
		home = xstrdup(env);
	else if ((env = getenv("XDG_STATE_HOME")) && *env)
		home = xasprintf("%s/smolvm", env);
	else
		home = xasprintf("%s/.local/state/smolvm",
				 getenv("HOME") ? getenv("HOME") : "/root");
	return home;
}

char *paths_vms_dir(void)
{
	return xasprintf("%s/vms", paths_home());
}

char *paths_vm_dir(const char *id)
{
	return xasprintf("%s/vms/%s", paths_home(), id);
}

char *paths_vm_file(const char *id, const char *name)
{
	return xasprintf("%s/vms/%s/%s", paths_home(), id, name);
}

char *paths_image_dir(const char *kind)
{
	return xasprintf("%s/images/%s", paths_home(), kind);
}

char *paths_keys_dir(void)
{
	return xasprintf("%s/keys", paths_home());
}

char *paths_cache_dir(void)
{
	return xasprintf("%s/cache", paths_home());
}

static bool has_themes(const char *dir)
{
	char *p = xasprintf("%s/themes", dir);
	bool ok = util_exists(p);

	free(p);
	return ok;
}

const char *paths_data_dir(void)
{
	const char *env = getenv("SMOLVM_DATADIR");
	char *exe_dir, *slash, *cand;

	if (data_dir)
		return data_dir;
	if (env && *env) {
		if (!has_themes(env)) {
			err_set("SMOLVM_DATADIR=%s has no themes/ folder", env);
			return NULL;
		}
		return data_dir = xstrdup(env);
	}
	exe_dir = xstrdup(util_self_exe());
	slash = strrchr(exe_dir, '/');
	if (slash)
		*slash = '\0';
	cand = xasprintf("%s/../share/smolvm", exe_dir);
	if (has_themes(cand)) {
		free(exe_dir);
		return data_dir = cand;
	}
	free(cand);
	if (has_themes(exe_dir))
		return data_dir = exe_dir;
	err_set("cannot find smolvm's data files (themes/) next to %s or in %s/../share/smolvm; "
		"set SMOLVM_DATADIR", util_self_exe(), exe_dir);
	free(exe_dir);
	return NULL;
}

void paths_reset(void)
{
	free(home);
	home = NULL;
	free(data_dir);
	data_dir = NULL;
}
