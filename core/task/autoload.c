/* autoload.c - a set names a label kind that no loaded plugin defines: the
 * plugin of that name is loaded (must_plugin_autoload_kinds).  The data
 * layer asks through a resolver it is handed (data/kinds-impl.h), since it
 * may not call the task layer. */
#include "config.h"

#include "data/kinds-impl.h"
#include "must/plugin.h"

static int resolve(const char *name, must_err *err)
{
    must_plugin *p;
    int rc = must_plugin_load(name, &p, err);
    if (rc)
        return rc;
    const must_task_ops *o = must_plugin_ops(p);
    if (!o->codec)
        rc = must_err_set(err, MUST_EINVAL, "plugin file %s reads %s labels and defines no kind "
                          "of its own", must_plugin_file(p),
                          o->label_kind == MUST_TASK_NO_KIND ? "no"
                                                             : must_label_kind_name(o->label_kind));
    /* A plugin that defines a kind is pinned (plugin.c): it stays loaded. */
    must_plugin_unload(p);
    return rc;
}

void must_plugin_autoload_kinds(int on)
{
    ds_kinds_set_resolver(on ? resolve : NULL);
}
