#include "backend/vault.h"

#include <stdlib.h>

#include "backend/paths.h"
#include "backend/util.h"

char *vault_path(void)
{
	return xasprintf("%s/vault", paths_home());
}

char *vault_key_path(void)
{
	char *dir = paths_keys_dir(), *p = xasprintf("%s/vault.key", dir);

	free(dir);
	return p;
}
