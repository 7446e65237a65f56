/* plugin-impl.h - private to the plugin loader: the host table. */
#ifndef MUST_PLUGIN_IMPL_H
#define MUST_PLUGIN_IMPL_H

#include "must/plugin.h"

/* The one host table every plugin receives (static storage). */
const must_host *must_host_table(void);

/* Takes one more reference to a loaded plugin; returns p. */
must_plugin *must_plugin_ref(must_plugin *p);

#endif
