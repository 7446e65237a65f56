/* cmd_run.c - `must run`, `must train`, `must label`, `must eval` and
 * `must demo`: the experiment's stages from the command line. */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "must/io.h"
#include "must/pipeline.h"
#include "must/plugin.h"

/* The terminal's view of a run's events: lines as they come; progress as
 * one line rewritten in place on a terminal, and about ten plain lines per
 * unit in a log. */
typedef struct term {
    int tty;
} term;

static void fmt_time(double s, char *buf, size_t len)
{
    if (s < 0 || !isfinite(s))
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, len, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void on_event(void *user, const must_event *ev)
{
    const term *t = user;
    if (ev->kind == MUST_EVENT_LINE) {
        printf("%s\n", ev->text);
    } else if (ev->kind == MUST_EVENT_PROGRESS) {
        long every = ev->total / 10 > 0 ? ev->total / 10 : 1;
        if (!t->tty && ev->step % every && ev->step != ev->total)
            return;
        char eta[32], reta[48] = "";
        fmt_time(ev->eta_s, eta, sizeof eta);
        if (ev->run_eta_s >= 0) {
            char r[32];
            fmt_time(ev->run_eta_s, r, sizeof r);
            snprintf(reta, sizeof reta, " (run %s)", r);
        }
        printf("%s[%s] %ld/%ld %s | %.1f img/s ETA %s%s%s", t->tty ? "\r\033[K" : "", ev->unit,
               ev->step, ev->total, ev->detail ? ev->detail : "", ev->images_per_s, eta, reta,
               t->tty ? "" : "\n");
    } else if (ev->kind == MUST_EVENT_PROGRESS_END && t->tty) {
        printf("\n");
    }
    fflush(stdout);
}

static term the_term;

/* The first SIGINT or SIGTERM asks the run to stop at its next step, with
 * its work saved; a second one ends the program at once. */
static void on_signal(int sig)
{
    static const char msg[] = "\nmust: stopping at the next step, with its checkpoint (again to "
                              "stop at once)\n";
    must_run_interrupt();
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing to do: the run stops all the same */
    }
    signal(sig, SIG_DFL);
}

/* Opens the run of e in `out` (default run-NAME), its events on stdout. */
static int open_run(const must_experiment *e, const char *out, must_run **r, must_err *err)
{
    char dout[128];
    snprintf(dout, sizeof dout, "run-%s", e->name);
    int rc = must_run_open(e, out ? out : dout, r, err);
    if (!rc) {
        the_term.tty = isatty(STDOUT_FILENO);
        must_run_set_events(*r, on_event, &the_term);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
    return rc;
}

static int load(const char *cmd, const char *ini, must_experiment **e)
{
    must_err err = {0};
    if (must_exp_load(ini, e, &err)) {
        if (must_cli_prints()) /* every rank reads the same file */
            fprintf(stderr, "must %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

/* Status 1 for a failure; 130 (the shell's for SIGINT) for a stop on
 * request, so that scripts tell the two apart. */
static int finish(const char *cmd, int rc, const must_err *err)
{
    return must_cli_fail(cmd, rc, err);
}

int must_cmd_run(int argc, char **argv)
{
    const char *ini = NULL, *out = NULL, *stage_name = NULL, *seeds = NULL;
    int dry = 0;
    const must_cli_opt opts[] = {{"--stage", MUST_CLI_STR, &stage_name, 0, 0},
                                 {"--out", MUST_CLI_STR, &out, 0, 0},
                                 {"--seeds", MUST_CLI_STR, &seeds, 0, 0},
                                 {"--dry-run", MUST_CLI_FLAG, &dry, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(
        "run", argc, argv, opts, &ini, 1,
        "usage: must run EXP.ini [--stage teachers|label|student|transfer|report] [--out RUN]\n"
        "                        [--seeds LIST] [--dry-run]\n\n"
        "Runs the experiment (must-experiment(5)) into RUN (default run-NAME):\n"
        "teachers, pseudo labels, the student (and the multi-task baseline), the\n"
        "transfer sweep and the report.  A finished unit is skipped, one cut off\n"
        "resumes, one whose settings changed is redone.  --stage runs one stage\n"
        "(and whatever it needs that is not done yet).  --dry-run lists the units\n"
        "still to do (after an edit of EXP.ini: what it invalidates) and writes\n"
        "nothing.  --seeds 1,2,3 runs it once per seed (RUN/seed-N, same data)\n"
        "and reports each cell's mean and standard deviation over them.\n");
    if (rc)
        return rc == 1 ? 0 : rc;
    int stage = stage_name ? must_stage_parse(stage_name) : MUST_STAGE_ALL;
    if (stage_name && stage < 0)
        return must_cli_usage_error("run", "unknown stage '%s' (teachers, label, student, "
                                           "transfer, report)", stage_name);
    if (!ini)
        return must_cli_usage_error("run", "no experiment file");
    must_experiment *e;
    if (load("run", ini, &e))
        return 1;
    must_run *r = NULL;
    must_err err = {0};
    rc = seeds ? must_exp_set_seeds(e, seeds, &err) : MUST_OK;
    if (rc) {
        must_exp_free(e);
        return must_cli_usage_error("run", "--seeds: %s", err.msg);
    }
    rc = open_run(e, out, &r, &err);
    if (!rc && dry)
        rc = must_run_plan(r, 1, NULL, &err);
    else if (!rc && !(rc = must_run_record(r, &err)))
        rc = must_run_stage(r, stage, &err);
    must_run_close(r);
    must_exp_free(e);
    return finish("run", rc, &err);
}

int must_cmd_train(int argc, char **argv)
{
    const char *ini = NULL, *out = NULL, *teacher = NULL;
    int student = 0;
    const must_cli_opt opts[] = {{"--teacher", MUST_CLI_STR, &teacher, 0, 0},
                                 {"--student", MUST_CLI_FLAG, &student, 0, 0},
                                 {"--out", MUST_CLI_STR, &out, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(
        "train", argc, argv, opts, &ini, 1,
        "usage: must train EXP.ini (--teacher NAME | --student) [--out RUN]\n\n"
        "Trains one model of the experiment into RUN (default run-NAME): a teacher,\n"
        "or the students (every [student.NAME] too, the multi-task baseline\n"
        "when [multitask] is given and SimCLR when [simclr] is; pseudo labels are\n"
        "made first when missing).  Resumes a run cut off.  Writes\n"
        "RUN/teachers/NAME/ or RUN/student/ (and RUN/student-NAME/,\n"
        "RUN/multitask/, RUN/simclr/): model.safetensors, loss.csv.\n");
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!ini || (!teacher) == (!student))
        return must_cli_usage_error("train", "give EXP.ini and one of --teacher NAME, --student");
    must_experiment *e;
    if (load("train", ini, &e))
        return 1;
    must_err err = {0};
    int t = teacher ? must_exp_find_teacher(e, teacher) : -1;
    if (teacher && t < 0) {
        fprintf(stderr, "must train: %s has no [teacher.%s]\n", ini, teacher);
        must_exp_free(e);
        return 2;
    }
    must_run *r = NULL;
    rc = open_run(e, out, &r, &err);
    if (!rc)
        rc = must_run_record(r, &err);
    if (!rc)
        rc = teacher ? must_run_teacher(r, t, &err) : must_run_students(r, &err);
    must_run_close(r);
    must_exp_free(e);
    return finish("train", rc, &err);
}

int must_cmd_label(int argc, char **argv)
{
    const char *ini = NULL, *out = NULL;
    const must_cli_opt opts[] = {{"--out", MUST_CLI_STR, &out, 0, 0}, {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(
        "label", argc, argv, opts, &ini, 1,
        "usage: must label EXP.ini [--out RUN]\n\n"
        "Runs every teacher of [label] over every image of its sets (training\n"
        "the teachers first when needed) and writes RUN/label/SET/part-NNN,\n"
        "datasets with supervised labels kept and pseudo labels for the rest.\n");
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!ini)
        return must_cli_usage_error("label", "no experiment file");
    must_experiment *e;
    if (load("label", ini, &e))
        return 1;
    must_err err = {0};
    must_run *r = NULL;
    rc = open_run(e, out, &r, &err);
    if (!rc)
        rc = must_run_record(r, &err);
    if (!rc)
        rc = must_run_label(r, &err);
    must_run_close(r);
    must_exp_free(e);
    return finish("label", rc, &err);
}

int must_cmd_eval(int argc, char **argv)
{
    const char *ini = NULL, *out = NULL, *model = NULL, *task = NULL, *data = NULL;
    const char *split_name = NULL;
    const must_cli_opt opts[] = {{"--model", MUST_CLI_STR, &model, 0, 0},
                                 {"--task", MUST_CLI_STR, &task, 0, 0},
                                 {"--data", MUST_CLI_STR, &data, 0, 0},
                                 {"--split", MUST_CLI_STR, &split_name, 0, 0},
                                 {"--out", MUST_CLI_STR, &out, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(
        "eval", argc, argv, opts, &ini, 1,
        "usage: must eval EXP.ini --model FILE --task T --data D [--split S] [--out RUN]\n\n"
        "Evaluates a checkpoint (backbone and the head named [task.T]) on a split\n"
        "(train, val, test; default test) of [data.D] and prints every metric.  A\n"
        "world set is read from RUN/data (default run-NAME); it is rendered there\n"
        "only when --out names the run: without it, eval writes nothing.\n");
    if (rc)
        return rc == 1 ? 0 : rc;
    int split = split_name ? must_split_parse(split_name) : MUST_SPLIT_TEST;
    if (split < 0)
        return must_cli_usage_error("eval", "unknown split '%s'", split_name);
    if (!ini || !model || !task || !data)
        return must_cli_usage_error("eval", "give EXP.ini, --model, --task and --data");
    must_experiment *e;
    if (load("eval", ini, &e))
        return 1;
    int ti = must_exp_find_task(e, task), di = must_exp_find_data(e, data);
    if (ti < 0 || di < 0) {
        fprintf(stderr, "must eval: %s has no [%s.%s]\n", ini, ti < 0 ? "task" : "data",
                ti < 0 ? task : data);
        must_exp_free(e);
        return 2;
    }
    must_err err = {0};
    must_run *r = NULL;
    must_metric m[64];
    rc = open_run(e, out, &r, &err);
    /* Evaluation reads a run; it renders a set only into a run it is given,
     * which it then holds as any writer does. */
    if (!rc && !out)
        must_run_set_readonly(r, 1);
    else if (!rc)
        rc = must_run_lock(r, &err);
    int n = rc ? rc : must_run_eval(r, model, ti, di, split, m, 64, &err);
    rc = n < 0 ? n : MUST_OK;
    if (!rc && must_cli_prints()) {
        printf("{\"model\":\"%s\",\"task\":\"%s\",\"data\":\"%s\",\"split\":\"%s\"", model, task,
               data, must_split_name(split));
        for (int k = 0; k < n; k++)
            printf(",\"%s\":%.6g", m[k].name, m[k].value);
        printf("}\n");
    }
    must_run_close(r);
    must_exp_free(e);
    return finish("eval", rc, &err);
}

int must_cmd_demo(int argc, char **argv)
{
    const char *out = NULL;
    int quick = 0;
    const must_cli_opt opts[] = {{"--quick", MUST_CLI_FLAG, &quick, 0, 0},
                                 {"--out", MUST_CLI_STR, &out, 0, 0},
                                 {NULL, 0, NULL, 0, 0}};
    int rc = must_cli_parse(
        "demo", argc, argv, opts, NULL, 0,
        "usage: must demo [--quick] [--out DIR]\n\n"
        "Renders the built-in world's datasets and runs the shipped experiment\n"
        "demo.ini (with --quick, demo-quick.ini: a few minutes less of everything;\n"
        "both in " MUST_SYSCONF_DIR ") into DIR (default must-demo): teachers,\n"
        "pseudo labels, the MuST student, the transfer sweep; prints the transfer\n"
        "table.  Rerunning resumes.\n");
    if (rc)
        return rc == 1 ? 0 : rc;
    const char *file = quick ? "demo-quick.ini" : "demo.ini";
    char path[4096];
    const char *src = getenv("MUST_SRCDIR");
    path[0] = '\0';
    if (src && *src) {
        snprintf(path, sizeof path, "%s/etc/must/%s", src, file);
        if (!must_file_exists(path))
            path[0] = '\0';
    }
    if (!path[0]) {
        /* Run from an uninstalled in-tree build (the README's quick start):
         * the experiments sit in etc/must/ beside libtool's .libs/. */
        char *libs = must_build_tree_libs();
        if (libs) {
            snprintf(path, sizeof path, "%s/../etc/must/%s", libs, file);
            free(libs);
            if (!must_file_exists(path))
                path[0] = '\0';
        }
    }
    if (!path[0])
        snprintf(path, sizeof path, "%s/%s", MUST_SYSCONF_DIR, file);
    if (!must_file_exists(path)) {
        fprintf(stderr, "must demo: %s not found (set MUST_SRCDIR to the source tree, or "
                        "install)\n", path);
        return 1;
    }
    char *args[] = {"run", path, "--out", (char *)(out ? out : "must-demo"), NULL};
    if (must_cli_prints())
        printf("must demo: %s into %s\n", path, args[3]);
    return must_cmd_run(4, args);
}
