/*
 * suite: the table of encryption suites.
 */
#include "suite.h"

#include <string.h>

static const struct suite_info suites[] = {
	{SUITE_CBC_HMAC_SHA256, "aes-256-cbc-hmac-sha256", 16, 32, true, true},
	{SUITE_AES_256_GCM, "aes-256-gcm", 12, 16, false, false},
};

const struct suite_info *
suite_by_id(unsigned id)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if ((unsigned)suites[i].id == id)
			return &suites[i];
	return NULL;
}

const struct suite_info *
suite_by_name(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].name, name) == 0)
			return &suites[i];
	return NULL;
}

const struct suite_info *
suite_default(void)
{
	return &suites[0];
}

size_t
suite_sealed_len(const struct suite_info *s, size_t len, bool final)
{
	size_t ct = len;

	if (s->padded && final)
		ct = (len / 16 + 1) * 16;
	return s->iv_len + ct + s->tag_len;
}
