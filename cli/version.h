/*
 * version: the CLI's version, which meson passes in from the project's
 * (-DCRYPTSTORE_VERSION=...); the fallback serves builds without meson.
 */
#ifndef CS_CLI_VERSION_H
#define CS_CLI_VERSION_H

#ifndef CRYPTSTORE_VERSION
#define CRYPTSTORE_VERSION "0.1.0"
#endif

#endif /* CS_CLI_VERSION_H */
