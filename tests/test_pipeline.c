/* test_pipeline.c - the pipeline's pieces, without training anything: the
 * plan and what an edit of the experiment invalidates (from the units'
 * hashes and done files), the report's tables and files on results set by
 * hand, the relative gain, the progress events, and the public API's
 * argument checks. */
#include "config.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "must/io.h"
#include "must/pipeline.h"
#include "pipeline/run-impl.h"
#include "testutil.h"

/* The smallest experiment with every kind of unit: two world sets and a
 * labelled downstream set, one teacher, pseudo labels, the student, two
 * representations on one downstream task.  %s: the teacher's lr. */
static const char *exp_fmt =
    "[experiment]\nname = plan\nimage_size = 32\n"
    "[backbone]\nwidth = 0.125\nfpn_channels = 16\nfpn_max_level = 5\n"
    "[data.seg]\nworld = teach-seg\ncount = 8\n"
    "[data.unl]\nworld = unlabelled\ncount = 8\n"
    "[data.down]\nworld = down-seg\ncount = 8\n"
    "[task.segmentation]\n"
    "[teacher.seg]\ntask = segmentation\ndata = seg\nsteps = 2\nbatch = 2\nlr = %s\n"
    "[label]\ndata = unl\n"
    "[student]\nsteps = 2\nbatch = 2\n"
    "[compare]\nrepresentations = random, must\n"
    "[transfer.dseg]\ntask = segmentation\ndata = down\nlrs = 0.1\nsweep_steps = 2\nbatch = 4\n";

static must_experiment *parse_exp(const char *lr)
{
    char text[4096];
    snprintf(text, sizeof text, exp_fmt, lr);
    must_experiment *e = NULL;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(text, "plan.ini", &e, &err) == MUST_OK, "%s", err.msg);
    return e;
}

static char *fresh_dir(const char *name)
{
    char *d = must_path_join(test_tmpdir(), name);
    ck_assert_ptr_nonnull(d);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    return d;
}

/* Marks the unit in RUN/a[/b] finished with hash h. */
static void mark_done(run_state *r, uint64_t h, const char *a, const char *b)
{
    char *dir = run_path(r, a, b, NULL);
    must_err err = {0};
    ck_assert_int_eq(must_mkdir_p(dir, &err), MUST_OK);
    ck_assert_int_eq(run_unit_finish(dir, h, &err), MUST_OK);
    free(dir);
}

START_TEST(plan_counts_every_unit)
{
    must_experiment *e = parse_exp("0.1");
    char *dir = fresh_dir("pipeline-plan");
    must_run *r;
    must_err err = {0};
    ck_assert_int_eq(must_run_open(e, dir, &r, &err), MUST_OK);
    int todo[RUN_NUNIT_KINDS], all[RUN_NUNIT_KINDS];
    run_plan_count(r, todo, all);
    /* 3 world sets, 1 teacher, 1 label set, 1 student, 2 x 1 transfer cells. */
    int want[RUN_NUNIT_KINDS] = {3, 1, 1, 1, 2};
    for (int k = 0; k < RUN_NUNIT_KINDS; k++) {
        ck_assert_int_eq(all[k], want[k]);
        ck_assert_int_eq(todo[k], want[k]);
    }
    int left = -1;
    ck_assert_int_eq(must_run_plan(r, 0, &left, &err), MUST_OK);
    ck_assert_int_eq(left, 8);
    /* The plan writes nothing. */
    struct stat st;
    ck_assert_int_ne(stat(dir, &st), 0);
    must_run_close(r);
    must_exp_free(e);
    free(dir);
}
END_TEST

/* Plans `text` and returns must_run_plan's status, with its message. */
static int plan_text(const char *text, must_err *err)
{
    must_experiment *e = NULL;
    ck_assert_msg(must_exp_parse(text, "nothing.ini", &e, err) == MUST_OK, "%s", err->msg);
    char *dir = fresh_dir("pipeline-nothing");
    must_run *r;
    ck_assert_int_eq(must_run_open(e, dir, &r, err), MUST_OK);
    int left = -1, rc = must_run_plan(r, 0, &left, err);
    must_run_close(r);
    must_exp_free(e);
    free(dir);
    return rc;
}

/* An empty file, or a student with nothing to learn from, is refused by
 * the plan (`--dry-run`), not found out when the student starts. */
START_TEST(a_student_without_tasks_or_data_is_refused)
{
    must_err err = {0};
    ck_assert_int_eq(plan_text("", &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "nothing.ini"));
    ck_assert_ptr_nonnull(strstr(err.msg, "no tasks"));
    const char *no_label = "[data.seg]\nworld = teach-seg\ncount = 8\n"
                           "[task.segmentation]\n"
                           "[teacher.seg]\ntask = segmentation\ndata = seg\n";
    ck_assert_int_eq(plan_text(no_label, &err), MUST_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "[student] has no datasets"));
    char text[4096];
    snprintf(text, sizeof text, "%s[student]\nextra = seg\n", no_label);
    ck_assert_msg(plan_text(text, &err) == MUST_OK, "%s", err.msg);
}
END_TEST

START_TEST(an_edit_invalidates_what_reads_it)
{
    must_experiment *e = parse_exp("0.1");
    char *dir = fresh_dir("pipeline-invalidate");
    must_run *r;
    must_err err = {0};
    ck_assert_int_eq(must_run_open(e, dir, &r, &err), MUST_OK);
    /* Every unit but the transfer cells finished with today's hashes. */
    for (int i = 0; i < e->ndata; i++)
        mark_done(r, r->data_hash[i], "data", e->data[i].name);
    mark_done(r, r->teacher_hash[0], "teachers", "seg");
    mark_done(r, run_hash_label(r, 0, NULL), "label", "unl");
    mark_done(r, run_hash_multi(r, &e->student), "student", NULL);
    int todo[RUN_NUNIT_KINDS], all[RUN_NUNIT_KINDS];
    run_plan_count(r, todo, all);
    ck_assert_int_eq(todo[RUN_U_DATA] + todo[RUN_U_TEACHER] + todo[RUN_U_LABEL], 0);
    ck_assert_int_eq(todo[RUN_U_STUDENT], 0);
    ck_assert_int_eq(todo[RUN_U_TRANSFER], 2);
    must_run_close(r);
    must_exp_free(e);

    /* The teacher's learning rate changes: the teacher, the pseudo labels it
     * made and the student that read them are to do again; the rendered
     * sets are not. */
    e = parse_exp("0.2");
    ck_assert_int_eq(must_run_open(e, dir, &r, &err), MUST_OK);
    run_plan_count(r, todo, all);
    ck_assert_int_eq(todo[RUN_U_DATA], 0);
    ck_assert_int_eq(todo[RUN_U_TEACHER], 1);
    ck_assert_int_eq(todo[RUN_U_LABEL], 1);
    ck_assert_int_eq(todo[RUN_U_STUDENT], 1);
    ck_assert_int_eq(todo[RUN_U_TRANSFER], 2);
    must_run_close(r);
    must_exp_free(e);
    free(dir);
}
END_TEST

/* Downstream tasks only: one [compare] row (%s), a teacher, and the
 * implicit [student] with no data. */
static const char *transfer_only_fmt =
    "[experiment]\nname = tonly\nimage_size = 32\n"
    "[backbone]\nwidth = 0.125\nfpn_channels = 16\nfpn_max_level = 5\n"
    "[data.seg]\nworld = teach-seg\ncount = 8\n"
    "[data.down]\nworld = down-seg\ncount = 8\n"
    "[task.segmentation]\n"
    "[teacher.seg]\ntask = segmentation\ndata = seg\nsteps = 2\nbatch = 2\n"
    "[compare]\nrepresentations = %s\n"
    "[transfer.dseg]\ntask = segmentation\ndata = down\nlrs = 0.1, 0.2\nsweep_steps = 2\n";

/* The plan's unit counts of transfer_only_fmt with row `rep`. */
static void plan_of(const char *rep, const char *dir, int *all, run_state **keep)
{
    char text[2048];
    snprintf(text, sizeof text, transfer_only_fmt, rep);
    must_experiment *e = NULL;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(text, "tonly.ini", &e, &err) == MUST_OK, "%s", err.msg);
    must_run *r;
    ck_assert_int_eq(must_run_open(e, dir, &r, &err), MUST_OK);
    int todo[RUN_NUNIT_KINDS];
    run_plan_count(r, todo, all);
    ck_assert(!run_needs_multi(r, &e->student));
    *keep = r;
}

START_TEST(a_run_plans_only_what_its_rows_need)
{
    char *dir = fresh_dir("pipeline-tonly");
    int all[RUN_NUNIT_KINDS];
    run_state *r;
    /* Random init: the downstream set and one cell; no teacher, no labels,
     * no student, and the teacher's set is not rendered. */
    plan_of("random", dir, all, &r);
    int want[RUN_NUNIT_KINDS] = {1, 0, 0, 0, 1};
    for (int k = 0; k < RUN_NUNIT_KINDS; k++)
        ck_assert_int_eq(all[k], want[k]);
    ck_assert_int_eq(r->need_teacher[0], 0);
    const must_experiment *e = r->e;
    must_run_close(r);
    must_exp_free((must_experiment *)e);
    /* The teacher as a row brings it, and its set, back. */
    plan_of("supervised:seg", dir, all, &r);
    int want2[RUN_NUNIT_KINDS] = {2, 1, 0, 0, 1};
    for (int k = 0; k < RUN_NUNIT_KINDS; k++)
        ck_assert_int_eq(all[k], want2[k]);
    e = r->e;
    must_run_close(r);
    must_exp_free((must_experiment *)e);
    free(dir);
}
END_TEST

START_TEST(gain_by_hand)
{
    run_result base = {0}, x = {0};
    base.test = 50;
    x.test = 60;
    ck_assert_float_near(run_gain(&x, &base), 20.0, 1e-9);
    x.test = 40;
    ck_assert_float_near(run_gain(&x, &base), -20.0, 1e-9);
    /* Lower is better: an error of 0.8 against 1.0 is a 20 % gain. */
    base.test = 1.0;
    x.test = 0.8;
    x.lower_better = 1;
    ck_assert_float_near(run_gain(&x, &base), 20.0, 1e-9);
    base.test = 0;
    ck_assert_float_near(run_gain(&x, &base), 0.0, 0);
}
END_TEST

/* A report's data set by hand: random (the baseline) at 40 mIoU, must at
 * 50; no pseudo-label scores. */
static void fill_results(run_result *res)
{
    for (int ri = 0; ri < 2; ri++) {
        run_result *x = &res[ri];
        snprintf(x->metric, sizeof x->metric, "miou");
        x->val = ri ? 52 : 41;
        x->test = ri ? 50 : 40;
        x->lr = 0.1;
        x->steps = 2;
        x->nmetrics = 2;
        snprintf(x->metric_names[0], sizeof x->metric_names[0], "miou");
        snprintf(x->metric_names[1], sizeof x->metric_names[1], "pixel_acc");
        x->test_all[0] = x->test;
        x->test_all[1] = ri ? 80 : 75;
    }
}

static char *read_all(const char *path)
{
    char *text = NULL;
    size_t len;
    must_err err = {0};
    ck_assert_msg(must_file_read(path, &text, &len, &err) == MUST_OK, "%s", err.msg);
    return text;
}

START_TEST(report_files_by_hand)
{
    must_experiment *e = parse_exp("0.1");
    char *dir = fresh_dir("pipeline-report");
    must_run *r;
    must_err err = {0};
    ck_assert_int_eq(must_run_open(e, dir, &r, &err), MUST_OK);
    ck_assert_int_eq(must_mkdir_p(dir, &err), MUST_OK);
    run_result res[2];
    memset(res, 0, sizeof res);
    fill_results(res);
    long ntest[1] = {7};
    run_tscore teacher[1];
    memset(teacher, 0, sizeof teacher);
    run_report_data d = {0};
    d.res = res;
    d.ntest = ntest;
    d.teacher = teacher;
    char *csv = must_path_join(dir, "results.csv"), *js = must_path_join(dir, "results.json");
    char *md = must_path_join(dir, "report.md");
    ck_assert_int_eq(run_report_write_csv(r, &d, csv, &err), MUST_OK);
    ck_assert_int_eq(run_report_write_json(r, &d, js, &err), MUST_OK);
    ck_assert_int_eq(run_report_write_md(r, &d, md, &err), MUST_OK);
    char *t = read_all(csv);
    ck_assert_str_eq(t,
                     "section,representation,task,dataset,metric,lower_better,val,test,delta,"
                     "relative_gain_pct,lr,steps,images,labelled_pct,in_classes_pct,delta_ci95_lo,"
                     "delta_ci95_hi\n"
                     "transfer,random,dseg,down,miou,0,41,40,0,0,0.1,2,,,,,\n"
                     "transfer,must,dseg,down,miou,0,52,50,10,25,0.1,2,,,,,\n");
    free(t);
    t = read_all(js);
    ck_assert_ptr_nonnull(strstr(t, "\"baseline\": \"random\""));
    ck_assert_ptr_nonnull(strstr(t, "{\"representation\": \"must\", \"task\": \"dseg\", "
                                    "\"plugin\": \"segmentation\", \"dataset\": \"down\", "
                                    "\"metric\": \"miou\", \"lower_better\": false, \"val\": 52, "
                                    "\"test\": 50, \"delta\": 10, \"relative_gain_pct\": 25, "
                                    "\"lr\": 0.1, \"steps\": 2, \"batch\": 4, \"test_metrics\": "
                                    "{\"miou\": 50, \"pixel_acc\": 80}}\n"));
    ck_assert_ptr_nonnull(strstr(t, "\"pseudo_label_quality\": []"));
    ck_assert_ptr_nonnull(strstr(t, "\"figures\": [\"fig5-transfer-gains.png\"]"));
    free(t);
    t = read_all(md);
    ck_assert_ptr_nonnull(strstr(t, "| representation | dseg (miou, 7 test) |\n|---|---:|\n"
                                    "| random (baseline) | 40.00 |\n| must | 50.00 (+10.00) |\n"));
    ck_assert_ptr_nonnull(strstr(t, "| must | dseg | 0.1 | 2 | 52.00 |\n"));
    free(t);
    /* With an interval (better positive, as the bootstrap gives it): the
     * cell, the CSV's last columns and the JSON's field. */
    run_interval iv[2] = {{0}, {.ok = 1, .lo = 1.5, .hi = 18.5, .diff = 10, .excludes_zero = 1}};
    d.iv = iv;
    ck_assert_int_eq(run_report_write_csv(r, &d, csv, &err), MUST_OK);
    ck_assert_int_eq(run_report_write_json(r, &d, js, &err), MUST_OK);
    ck_assert_int_eq(run_report_write_md(r, &d, md, &err), MUST_OK);
    t = read_all(csv);
    ck_assert_ptr_nonnull(strstr(t, "transfer,must,dseg,down,miou,0,52,50,10,25,0.1,2,,,,1.5,18.5\n"));
    free(t);
    t = read_all(js);
    ck_assert_ptr_nonnull(strstr(t, "\"delta_interval95\": [1.5, 18.5], \"excludes_zero\": true}"));
    free(t);
    t = read_all(md);
    ck_assert_ptr_nonnull(strstr(t, "| must | 50.00 (+10.00; [+1.50, +18.50] *) |\n"));
    free(t);
    d.iv = NULL;
    free(csv);
    free(js);
    free(md);
    must_run_close(r);
    must_exp_free(e);
    free(dir);
}
END_TEST

typedef struct seen {
    int lines, progress, ends;
    long last_step;
    double last_eta, first_eta, last_run_eta;
    char last_line[256];
} seen;

static void on_event(void *user, const must_event *ev)
{
    seen *s = user;
    if (ev->kind == MUST_EVENT_LINE) {
        s->lines++;
        snprintf(s->last_line, sizeof s->last_line, "%s", ev->text);
    } else if (ev->kind == MUST_EVENT_PROGRESS) {
        if (!s->progress)
            s->first_eta = ev->eta_s;
        s->progress++;
        s->last_step = ev->step;
        s->last_eta = ev->eta_s;
        s->last_run_eta = ev->run_eta_s;
        ck_assert_str_eq(ev->unit, "teacher x");
        ck_assert_int_eq(ev->total, 10);
    } else if (ev->kind == MUST_EVENT_PROGRESS_END) {
        s->ends++;
    }
}

START_TEST(events_lines_and_progress)
{
    seen s = {0};
    pl_out o = {.fn = on_event, .user = &s};
    pl_say(&o, "[%s] %d", "unit", 7);
    ck_assert_int_eq(s.lines, 1);
    ck_assert_str_eq(s.last_line, "[unit] 7");
    pl_progress p;
    /* A whole run of 20 image-steps: this unit's 6 steps of 2 are 12 of them. */
    pl_clock clock = {20, 0, pl_now() - 1.0};
    o.clock = &clock;
    pl_progress_start(&p, &o, "teacher x", 10, 4, 2.0);
    /* No rate yet: the ETA is unknown. */
    pl_progress_step(&p, 5, "seg 0.5", 0);
    ck_assert(s.first_eta < 0);
    usleep(2000);
    pl_progress_step(&p, 8, "seg 0.4", 100);
    ck_assert(s.last_eta >= 0);
    pl_progress_step(&p, 10, "seg 0.3", 100);
    ck_assert_float_near(s.last_eta, 0, 0); /* nothing left */
    /* 12 of the run's 20 image-steps done in about a second: about
     * 8 / 12 of a second left, and never below what the pace says. */
    ck_assert_float_near(clock.done, 12.0, 1e-9);
    ck_assert(s.last_run_eta > 0.6 && s.last_run_eta < 5.0);
    pl_progress_end(&p);
    ck_assert_int_eq(s.progress, 3);
    ck_assert_int_eq(s.last_step, 10);
    ck_assert_int_eq(s.ends, 1);
    /* No sink: nothing happens, nothing crashes. */
    pl_say(NULL, "dropped");
    pl_out none = {0};
    pl_progress_start(&p, &none, "teacher x", 10, 0, 1.0);
    pl_progress_step(&p, 1, "", 1);
    pl_progress_end(&p);
    ck_assert_int_eq(s.lines, 1);
}
END_TEST

START_TEST(api_refuses_bad_arguments)
{
    for (int s = 0; s < MUST_NSTAGES; s++)
        ck_assert_int_eq(must_stage_parse(must_stage_name(s)), s);
    ck_assert_int_eq(must_stage_parse("students"), -1);
    ck_assert_int_eq(must_stage_parse(NULL), -1);
    ck_assert_ptr_null(must_stage_name(MUST_NSTAGES));
    ck_assert_ptr_null(must_stage_name(-1));
    must_experiment *e = parse_exp("0.1");
    must_run *r = (must_run *)1;
    must_err err = {0};
    ck_assert_int_eq(must_run_open(e, "", &r, &err), MUST_EINVAL);
    ck_assert_ptr_null(r);
    char *dir = fresh_dir("pipeline-api");
    ck_assert_int_eq(must_run_open(e, dir, &r, &err), MUST_OK);
    ck_assert_str_eq(must_run_dir(r), dir);
    ck_assert_int_eq(must_run_stage(r, MUST_NSTAGES, &err), MUST_EINVAL);
    ck_assert_int_eq(must_run_teacher(r, 1, &err), MUST_EINVAL);
    must_metric m[4];
    ck_assert_int_eq(must_run_eval(r, "x.safetensors", 5, 0, MUST_SPLIT_TEST, m, 4, &err),
                     MUST_EINVAL);
    must_run_close(r);
    must_run_close(NULL);
    must_exp_free(e);
    free(dir);
}
END_TEST

/* CRC-32C against RFC 3720's test vectors (B.4) and the standard check
 * value; TFRecord's mask worked out by hand. */
START_TEST(crc32c_and_mask)
{
    unsigned char b[32];
    memset(b, 0, sizeof b);
    ck_assert_uint_eq(pl_crc32c(b, 32), 0x8a9136aau);
    memset(b, 0xff, sizeof b);
    ck_assert_uint_eq(pl_crc32c(b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)i;
    ck_assert_uint_eq(pl_crc32c(b, 32), 0x46dd794eu);
    ck_assert_uint_eq(pl_crc32c("123456789", 9), 0xe3069283u);
    /* mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8: for c = 0x8000 the
     * rotation gives 1. */
    ck_assert_uint_eq(pl_crc_mask(0), 0xa282ead8u);
    ck_assert_uint_eq(pl_crc_mask(0x8000u), 0xa282ead9u);
}
END_TEST

/* One scalar event, framed: its bytes encoded by hand.  Event { wall_time
 * = 0 (09 + 8 zero bytes), step = 3 (10 03), summary (2a 0a) { value
 * (0a 08) { tag "a" (0a 01 61), simple_value 1.0f (15 00 00 80 3f) } } }. */
START_TEST(event_record_by_hand)
{
    static const unsigned char event[23] = {0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x03, 0x2a,
                                            0x0a, 0x0a, 0x08, 0x0a, 0x01, 0x61, 0x15, 0x00,
                                            0x00, 0x80, 0x3f};
    pl_tb tb = {0};
    ck_assert_int_eq(pl_tb_scalar(&tb, 0.0, 3, "a", 1.0f), MUST_OK);
    ck_assert_uint_eq(tb.len, 12 + sizeof event + 4);
    unsigned char len[8] = {23, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(memcmp(tb.buf, len, 8), 0);
    uint32_t c = pl_crc_mask(pl_crc32c(len, 8)), d = pl_crc_mask(pl_crc32c(event, 23));
    unsigned char cl[4] = {c & 0xff, c >> 8 & 0xff, c >> 16 & 0xff, c >> 24};
    unsigned char cd[4] = {d & 0xff, d >> 8 & 0xff, d >> 16 & 0xff, d >> 24};
    ck_assert_int_eq(memcmp(tb.buf + 8, cl, 4), 0);
    ck_assert_int_eq(memcmp(tb.buf + 12, event, 23), 0);
    ck_assert_int_eq(memcmp(tb.buf + 35, cd, 4), 0);
    pl_tb_free(&tb);
}
END_TEST

/* A file of steps 1..4 written and reloaded up to step 2 keeps the version
 * record and steps 1 and 2, byte for byte (a resume's truncation). */
START_TEST(event_file_reload_keeps_earlier_steps)
{
    pl_tb tb = {0}, back = {0}, want = {0};
    ck_assert_int_eq(pl_tb_version(&tb, 5.0), MUST_OK);
    ck_assert_int_eq(pl_tb_version(&want, 5.0), MUST_OK);
    for (long s = 1; s <= 4; s++) {
        ck_assert_int_eq(pl_tb_scalar(&tb, 5.0 + s, s, "loss", (float)s), MUST_OK);
        if (s <= 2)
            ck_assert_int_eq(pl_tb_scalar(&want, 5.0 + s, s, "loss", (float)s), MUST_OK);
    }
    char *path = must_path_join(test_tmpdir(), "events.out.tfevents.test");
    must_err err = {0};
    ck_assert_int_eq(pl_tb_write(&tb, path, &err), MUST_OK);
    ck_assert_int_eq(pl_tb_reload(&back, path, 2), MUST_OK);
    ck_assert_uint_eq(back.len, want.len);
    ck_assert_int_eq(memcmp(back.buf, want.buf, want.len), 0);
    free(path);
    pl_tb_free(&tb);
    pl_tb_free(&back);
    pl_tb_free(&want);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("plan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, plan_counts_every_unit);
    tcase_add_test(tc, an_edit_invalidates_what_reads_it);
    tcase_add_test(tc, a_run_plans_only_what_its_rows_need);
    tcase_add_test(tc, a_student_without_tasks_or_data_is_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_test(tc, gain_by_hand);
    tcase_add_test(tc, report_files_by_hand);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_test(tc, events_lines_and_progress);
    tcase_add_test(tc, api_refuses_bad_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("tensorboard");
    tcase_add_test(tc, crc32c_and_mask);
    tcase_add_test(tc, event_record_by_hand);
    tcase_add_test(tc, event_file_reload_keeps_earlier_steps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run(suite());
}
