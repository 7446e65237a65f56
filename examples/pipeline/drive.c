/* drive.c - an experiment driven from C through libmust's public API
 * (must/pipeline.h): the whole MuST pipeline, or one stage, with the run's
 * progress shown by a callback of the program's own.
 *
 *     cc -std=c11 drive.c $(pkg-config --cflags --libs must) -o drive
 *     ./drive EXP.ini RUN [STAGE]
 *
 * STAGE is teachers, label, student, transfer or report (default: all of
 * them).  Prints the run's lines, one line per finished unit's progress,
 * and a last line counting the events. */
#include <stdio.h>
#include <string.h>

#include <must/pipeline.h>

typedef struct counts {
    long lines, steps;
} counts;

static void on_event(void *user, const must_event *ev)
{
    counts *c = user;
    if (ev->kind == MUST_EVENT_LINE) {
        c->lines++;
        printf("%s\n", ev->text);
    } else if (ev->kind == MUST_EVENT_PROGRESS) {
        c->steps++;
        if (ev->step == ev->total)
            printf("[%s] %ld/%ld %s\n", ev->unit, ev->step, ev->total,
                   ev->detail ? ev->detail : "");
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: drive EXP.ini RUN [STAGE]\n");
        return 2;
    }
    int stage = argc == 4 ? must_stage_parse(argv[3]) : MUST_STAGE_ALL;
    if (stage < MUST_STAGE_ALL) {
        fprintf(stderr, "drive: no stage '%s'\n", argv[3]);
        return 2;
    }
    must_err err = {0};
    must_experiment *e = NULL;
    must_run *r = NULL;
    counts c = {0, 0};
    int rc = must_exp_load(argv[1], &e, &err);
    if (!rc)
        rc = must_run_open(e, argv[2], &r, &err);
    if (!rc) {
        must_run_set_events(r, on_event, &c);
        rc = must_run_record(r, &err);
    }
    if (!rc)
        rc = must_run_stage(r, stage, &err);
    must_run_close(r);
    must_exp_free(e);
    if (rc) {
        fprintf(stderr, "drive: %s\n", err.msg);
        return 1;
    }
    printf("drive: %ld lines, %ld progress events\n", c.lines, c.steps);
    return 0;
}
