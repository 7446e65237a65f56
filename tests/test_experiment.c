/* test_experiment.c - the experiment INI parser: a full file, defaults, the
 * paper's loss weights, and every error naming file, line, section and key. */
#include "config.h"

#include <math.h>

#include "must/experiment.h"
#include "must/sampler.h"
#include "must/task.h"
#include "testutil.h"

static const char *good =
    "# a comment\r\n"
    "[experiment]\r\n"
    "name = t1\r\n"
    "seed = 7\r\n"
    "[backbone]\n"
    "depth = 18\n"
    "[data.cls]\n"
    "world = teach-cls   ; inline comment\n"
    "count = 40\n"
    "[data.dep]\n"
    "world = teach-depth\n"
    "[data.unl]\n"
    "world = unlabelled\n"
    "[task.classification]\n"
    "temperature = 2\n"
    "[task.dep]\n"
    "plugin = depth\n"
    "[teacher.cls]\n"
    "task = classification\n"
    "data = cls\n"
    "batch = 32\n"
    "lr = 0.1\n"
    "[teacher.dep]\n"
    "task = dep\n"
    "data = dep\n"
    "batch = 8\n"
    "lr = 0.01\n"
    "[label]\n"
    "data = unl\n"
    "[student]\n"
    "batch = 16\n"
    "lr = 0.05\n"
    "weight.dep = 3\n"
    "[compare]\n"
    "representations = random, supervised:dep, must\n"
    "[transfer.seg]\n"
    "task = dep\n"
    "data = dep\n"
    "lrs = 0.1, 0.01\n"
    "sweep_steps = 10, 20, 40\n"
    "warmup = 5\n"
    "clip = 10\n";

START_TEST(test_good)
{
    must_experiment *e;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(good, "dir/x.ini", &e, &err) == MUST_OK, "%s", err.msg);
    ck_assert_str_eq(e->name, "t1");
    ck_assert_int_eq((int)e->seed, 7);
    ck_assert_int_eq(e->ndata, 3);
    ck_assert_int_eq(e->data[0].count, 40);
    ck_assert_str_eq(e->data[0].world, "teach-cls");
    ck_assert_int_eq((int)e->data[1].seed, 7); /* the experiment's seed */
    ck_assert_int_eq(e->ntasks, 2);
    ck_assert_str_eq(e->tasks[1].plugin, "depth");
    ck_assert_int_eq(e->tasks[0].nopts, 1);
    ck_assert_int_eq(e->nteachers, 2);
    ck_assert_int_eq(e->teachers[1].task, 1);
    ck_assert_int_eq(e->label.ndata, 1);
    ck_assert_int_eq(e->label.nteachers, 2);
    ck_assert_int_eq(e->student.nteachers, 2);
    ck_assert_int_eq(e->student.sampling, MUST_SAMPLE_UNION);
    ck_assert_int_eq(e->multitask.enabled, 0);
    /* w = (b_s lr_t) / (b_t lr_s) = (16 * 0.1) / (32 * 0.05) = 1; override 3. */
    ck_assert_float_near(must_exp_weight(e, &e->student, 0), 1.0, 1e-12);
    ck_assert_float_near(must_exp_weight(e, &e->student, 1), 3.0, 1e-12);
    ck_assert_int_eq(e->nreps, 3);
    ck_assert_int_eq(e->reps[1].kind, MUST_REP_TEACHER);
    ck_assert_int_eq(e->baseline, 1);
    ck_assert_int_eq(e->transfers[0].nsteps, 3);
    ck_assert_int_eq((int)e->transfers[0].train.steps, 40);
    ck_assert_float_near(e->transfers[0].lrs[1], 0.01, 1e-12);
    /* Transfer: a warm-up and clipping, the rate constant after them. */
    ck_assert_int_eq((int)e->transfers[0].train.optim.warmup_steps, 5);
    ck_assert_float_near(e->transfers[0].train.optim.clip_norm, 10.0, 1e-12);
    ck_assert_int_eq(e->transfers[0].train.optim.sched, MUST_SCHED_CONSTANT);
    ck_assert_int_eq((int)e->teachers[0].train.optim.warmup_steps, 0);
    must_exp_free(e);
}
END_TEST

START_TEST(test_paper_rule)
{
    const char *t = "[data.a]\nworld=teach-cls\n[task.classification]\n"
                    "[teacher.a]\ntask=classification\ndata=a\nbatch=8\nlr=0.2\n"
                    "[student]\nbatch=32\nlr=0.1\n";
    must_experiment *e;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(t, "w.ini", &e, &err) == MUST_OK, "%s", err.msg);
    /* (32 * 0.2) / (8 * 0.1) = 8 */
    ck_assert_float_near(must_exp_weight(e, &e->student, 0), 8.0, 1e-12);
    must_exp_free(e);
}
END_TEST

/* Table 3's further students: [student.NAME] sections, must:NAME rows. */
START_TEST(test_variants)
{
    const char *t = "[data.a]\nworld=teach-cls\n[data.d]\nworld=teach-depth\n"
                    "[data.u]\nworld=unlabelled\n"
                    "[task.classification]\n[task.depth]\n"
                    "[teacher.cls]\ntask=classification\ndata=a\nbatch=8\nlr=0.2\n"
                    "[teacher.dep]\ntask=depth\ndata=d\nbatch=8\nlr=0.1\n"
                    "[label]\ndata = u, a\n"
                    "[student]\nbatch=32\nlr=0.1\n"
                    "[student.t3]\nteachers = cls, dep\ndata = a\nbatch=16\nlr=0.1\nsteps=7\n"
                    "weight.dep = 0.5\n"
                    "[compare]\nrepresentations = supervised:cls, must:t3, must\n";
    must_experiment *e;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(t, "v.ini", &e, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(e->nvariants, 1);
    const must_exp_student *v = &e->variants[0];
    ck_assert_str_eq(v->name, "t3");
    ck_assert_int_eq((int)v->train.steps, 7);
    ck_assert_int_eq(v->ndata, 1);
    ck_assert_int_eq(v->data[0], 0);
    ck_assert_int_eq(v->sampling, MUST_SAMPLE_UNION);
    ck_assert_int_eq(e->student.ndata, 0);
    /* (16 * 0.2) / (8 * 0.1) = 4 for cls; dep overridden. */
    ck_assert_float_near(must_exp_weight(e, v, 0), 4.0, 1e-12);
    ck_assert_float_near(must_exp_weight(e, v, 1), 0.5, 1e-12);
    ck_assert_int_eq(e->reps[1].kind, MUST_REP_STUDENT);
    ck_assert_int_eq(e->reps[1].student, 0);
    ck_assert_int_eq(e->reps[2].student, -1);
    ck_assert_ptr_eq(must_exp_rep_student(e, &e->reps[1]), v);
    ck_assert_ptr_eq(must_exp_rep_student(e, &e->reps[2]), &e->student);
    ck_assert_ptr_null(must_exp_rep_student(e, &e->reps[0]));
    must_exp_free(e);
}
END_TEST

START_TEST(test_uncertainty)
{
    /* Learned weighting: the initial weight is 1, or an override (> 0);
     * s0 = -log w. */
    const char *t = "[data.a]\nworld=teach-cls\n[data.b]\nworld=teach-depth\n"
                    "[task.classification]\n[task.depth]\n"
                    "[teacher.a]\ntask=classification\ndata=a\nbatch=8\nlr=0.2\n"
                    "[teacher.b]\ntask=depth\ndata=b\n"
                    "[student]\nbatch=32\nlr=0.1\nweighting = uncertainty\nweight.b = 0.25\n"
                    "[multitask]\nweighting = uncertainty\n";
    must_experiment *e;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(t, "u.ini", &e, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(e->student.weighting, MUST_WEIGHT_UNCERTAINTY);
    ck_assert_int_eq(e->multitask.weighting, MUST_WEIGHT_UNCERTAINTY);
    ck_assert_float_near(must_exp_weight(e, &e->student, 0), 1.0, 1e-12);
    ck_assert_float_near(must_exp_weight(e, &e->student, 1), 0.25, 1e-12);
    must_exp_free(e);
}
END_TEST

static void bad(const char *text, const char *want1, const char *want2)
{
    must_experiment *e = NULL;
    must_err err = {0};
    int rc = must_exp_parse(text, "bad.ini", &e, &err);
    ck_assert_msg(rc < 0, "accepted: %s", text);
    ck_assert_ptr_null(e);
    ck_assert_msg(strstr(err.msg, want1) != NULL, "'%s' lacks '%s'", err.msg, want1);
    if (want2)
        ck_assert_msg(strstr(err.msg, want2) != NULL, "'%s' lacks '%s'", err.msg, want2);
}

START_TEST(test_errors)
{
    bad("[experiment]\nnmae = x\n", "bad.ini:2: [experiment] nmae: unknown key", "name, seed");
    bad("[experiment]\nseed = 1\nseed = 2\n", "bad.ini:3: [experiment] seed: key given twice",
        "line 2");
    bad("[experiment]\n[experiment]\n", "bad.ini:2: [experiment]", "twice");
    bad("[nonsense]\n", "bad.ini:1: [nonsense]", "unknown section");
    bad("seed = 1\n", "bad.ini:1:", "before the first");
    bad("[experiment]\nseed\n", "bad.ini:2: [experiment]", "key = value");
    bad("[experiment]\nimage_size = 3\n", "bad.ini:2: [experiment] image_size",
        "out of range 16..1024");
    bad("[experiment]\nthreads = lots\n", "[experiment] threads", "whole number");
    bad("[data.a]\nworld = x\n[teacher.t]\ntask = nope\n", "bad.ini:4: [teacher.t] task",
        "no [task.nope]");
    bad("[data.a]\nworld=teach-cls\n[task.classification]\ntemprature = 2\n",
        "bad.ini:4: [task.classification]", "temperature");
    bad("[task.x]\nplugin = nosuchplugin\n", "bad.ini:1: [task.x]", "nosuchplugin");
    bad("[data.a]\n", "[data.a]", "exactly one");
    /* What a set reads must exist, checked before anything runs. */
    bad("[experiment]\n[data.a]\nworld = teach-clss\n", "bad.ini:3: [data.a] world:",
        "teach-clss");
    bad("[data.a]\npath = /nonexistent/set\ncount = 5\n", "bad.ini:3: [data.a] count:",
        "world sets only");
    bad("[data.a]\npath = /nonexistent/set\n", "bad.ini:2: [data.a] path:",
        "no dataset at /nonexistent/set");
    bad("[data.a]\nworld=w\n[task.classification]\n[teacher.t]\ndata = a\n", "[teacher.t] task",
        "required");
    bad("[compare]\nrepresentations = random, bogus\n", "[compare] representations", "bogus");
    bad("[compare]\nrepresentations = random\nbaseline = must\n", "[compare] baseline",
        "not among");
    bad("[data.a]\nworld=w\n[task.depth]\n[transfer.x]\ntask=depth\ndata=a\nsweep_steps=20,10\n",
        "[transfer.x] sweep_steps", "ascending");
    bad("[student]\nweight.zz = 2\n", "[student] weight.zz", "no [teacher.zz]");
    bad("[compare]\nrepresentations = multitask\n", "multitask", "[multitask]");
    bad("[compare]\nrepresentations = must:nope\n", "[compare] representations",
        "no [student.nope]");
    bad("[data.a]\nworld=teach-cls\n[data.u]\nworld=unlabelled\n[label]\ndata=u\n"
        "[student.x]\ndata = a\n",
        "bad.ini:7: [student.x] data", "not among [label] data");
    bad("[data.u]\nworld=unlabelled\n[label]\ndata=u\n[multitask]\ndata = u\n",
        "[multitask] data", "teachers' sets");
    bad("[student.x]\nbogus = 1\n", "bad.ini:2: [student.x] bogus", "weight.<teacher>");
    bad("[data.a]\nworld=teach-cls\n[task.classification]\n[teacher.a]\ntask=classification\n"
        "data=a\n[student]\nweighting = uncertainty\nweight.a = 0\n",
        "bad.ini:9: [student] weight.a", "must be > 0");
    bad("[student]\nweighting = learned\n", "bad.ini:2: [student] weighting",
        "paper|equal|uncertainty");
}
END_TEST

/* init = ...: every kind parses into the model's must_exp_rep; loops,
 * unknown names and a missing [multitask] are refused naming the line. */
static const char *inits =
    "[data.a]\nworld = teach-cls\n[data.b]\nworld = teach-depth\n[data.u]\nworld = unlabelled\n"
    "[task.classification]\n[task.depth]\n"
    "[teacher.a]\ntask = classification\ndata = a\n"
    "[teacher.b]\ntask = depth\ndata = b\ninit = supervised:a\n"
    "[label]\ndata = u\n"
    "[student]\ninit = file:w/start.safetensors\n"
    "[student.late]\ninit = must\n"
    "[multitask]\ninit = multitask\n";

START_TEST(test_init)
{
    must_experiment *e;
    must_err err = {0};
    /* [multitask] from itself is a loop: first the good file without it. */
    char *text = strdup(inits);
    *strstr(text, "[multitask]") = 0;
    ck_assert_msg(must_exp_parse(text, "dir/x.ini", &e, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(e->teachers[0].init.kind, MUST_REP_RANDOM);
    ck_assert_str_eq(e->teachers[0].init.label, "random");
    ck_assert_int_eq(e->teachers[1].init.kind, MUST_REP_TEACHER);
    ck_assert_int_eq(e->teachers[1].init.teacher, 0);
    ck_assert_int_eq(e->student.init.kind, MUST_REP_FILE);
    ck_assert_str_eq(e->student.init.path, "dir/w/start.safetensors");
    ck_assert_int_eq(e->variants[0].init.kind, MUST_REP_STUDENT);
    ck_assert_int_eq(e->variants[0].init.student, -1);
    ck_assert_int_eq(e->multitask.init.kind, MUST_REP_RANDOM);
    must_exp_free(e);
    free(text);
    bad(inits, "bad.ini:23: [multitask] init", "[multitask] -> [multitask]");
    bad("[data.a]\nworld=teach-cls\n[task.classification]\n[teacher.a]\ntask=classification\n"
        "data=a\ninit = must\n",
        "bad.ini:7: [teacher.a] init", "[teacher.a] -> [student] -> [teacher.a]");
    /* [multitask]'s hash reads its teachers' hashes: a teacher of it that
     * starts from it is a loop of settings. */
    bad("[data.a]\nworld=teach-cls\n[task.classification]\n[teacher.a]\ntask=classification\n"
        "data=a\ninit = multitask\n[multitask]\n",
        "[teacher.a] init", "[teacher.a] -> [multitask] -> [teacher.a]");
    bad("[student]\ninit = supervised:nope\n", "bad.ini:2: [student] init", "no [teacher.nope]");
    bad("[student]\ninit = multitask\n", "[student] init", "needs a [multitask] section");
    bad("[student]\ninit = imagenet\n", "bad.ini:2: [student] init", "not a representation");
}
END_TEST

START_TEST(test_seeds)
{
    must_experiment *e;
    must_err err = {0};
    ck_assert_msg(must_exp_parse("[experiment]\nseed = 4\nseeds = 1, 2, 7\n[data.a]\n"
                                 "world = teach-cls\n",
                                 "s.ini", &e, &err) == MUST_OK,
                  "%s", err.msg);
    ck_assert_int_eq(e->nseeds, 3);
    ck_assert_int_eq(e->seeds[2], 7);
    /* World data keeps `seed`'s images whatever the seeds. */
    ck_assert_int_eq((int)e->data[0].seed, 4);
    ck_assert_int_eq(must_exp_set_seeds(e, "5,6", &err), MUST_OK);
    ck_assert_int_eq(e->nseeds, 2);
    ck_assert_int_eq(e->seeds[0], 5);
    ck_assert_int_eq(must_exp_set_seeds(e, "6, 5", &err), MUST_EINVAL);
    ck_assert_msg(strstr(err.msg, "ascending"), "%s", err.msg);
    ck_assert_int_eq(e->nseeds, 2); /* unchanged */
    ck_assert_int_eq(must_exp_set_seeds(e, "x", &err), MUST_EINVAL);
    ck_assert_int_eq(must_exp_set_seeds(e, "", &err), MUST_EINVAL);
    ck_assert_msg(strstr(err.msg, "no seeds"), "%s", err.msg);
    must_exp_free(e);
    bad("[experiment]\nseeds = 3, 2\n", "bad.ini:2: [experiment] seeds", "ascending");
    bad("[experiment]\nseeds = 1.5\n", "bad.ini:2: [experiment] seeds", "whole");
}
END_TEST

/* [simclr]: its task, sets, [student]'s steps and batch where it gives
 * none, SimCLR's augmentation, and the representation and init that name
 * it; its mistakes refused naming the line. */
static const char *simclr_text =
    "[data.a]\nworld = teach-cls\n[data.u]\nworld = unlabelled\n[data.v]\nworld = unlabelled\n"
    "[task.classification]\n[task.simclr]\ntemperature = 0.5\n"
    "[teacher.a]\ntask = classification\ndata = a\n"
    "[label]\ndata = u, v\n"
    "[student]\nsteps = 77\nbatch = 12\ninit = simclr\n"
    "[simclr]\nbatch = 8\njitter = 0.3\nblur = 0.25\n"
    "[compare]\nrepresentations = random, simclr, must\n";

START_TEST(test_simclr)
{
    must_experiment *e;
    must_err err = {0};
    ck_assert_msg(must_exp_parse(simclr_text, "s.ini", &e, &err) == MUST_OK, "%s", err.msg);
    const must_exp_student *s = &e->simclr;
    ck_assert_int_eq(s->enabled, 1);
    ck_assert_int_eq(s->task, must_exp_find_task(e, "simclr"));
    ck_assert_int_eq(e->tasks[s->task].kind, MUST_TASK_NO_KIND);
    ck_assert_int_eq(s->ndata, 2); /* the [label] sets */
    ck_assert_int_eq(s->data[0], must_exp_find_data(e, "u"));
    ck_assert_int_eq(s->data[1], must_exp_find_data(e, "v"));
    ck_assert_int_eq(s->nteachers, 0);
    ck_assert_int_eq((int)s->train.steps, 77); /* [student]'s */
    ck_assert_int_eq(s->train.batch, 8);       /* its own */
    ck_assert_float_eq(s->aug.scale_min, 1.0f);
    ck_assert_float_eq(s->aug.scale_max, 3.0f);
    ck_assert_float_eq(s->aug.brightness, 0.3f);
    ck_assert_float_eq(s->aug.contrast, 0.3f);
    ck_assert_float_eq(s->aug.saturation, 0.3f);
    ck_assert_float_eq(s->aug.grey, 0.2f);
    ck_assert_float_eq(s->aug.blur, 0.25f);
    ck_assert_int_eq(e->reps[1].kind, MUST_REP_SIMCLR);
    ck_assert_ptr_eq(must_exp_rep_student(e, &e->reps[1]), s);
    ck_assert_int_eq(e->student.init.kind, MUST_REP_SIMCLR);
    must_exp_free(e);
    /* No [simclr]: off, and the student's augmentation untouched. */
    ck_assert_msg(must_exp_parse("[experiment]\n", "n.ini", &e, &err) == MUST_OK, "%s", err.msg);
    ck_assert_int_eq(e->simclr.enabled, 0);
    must_exp_free(e);

    bad("[data.u]\nworld = unlabelled\n[label]\ndata = u\n[simclr]\n", "bad.ini:5: [simclr] task",
        "no [task.simclr] section");
    bad("[data.u]\nworld = unlabelled\n[task.depth]\n[label]\ndata = u\n[simclr]\ntask = depth\n",
        "bad.ini:7: [simclr] task", "reads depth labels");
    bad("[task.simclr]\n[simclr]\n", "[simclr] data", "no sets to train on");
    bad("[data.a]\nworld = teach-cls\n[task.simclr]\n[teacher.a]\ntask = simclr\ndata = a\n",
        "bad.ini:5: [teacher.a] task", "reads no labels");
    bad("[data.a]\nworld = down-cls\n[task.simclr]\n[transfer.x]\ntask = simclr\ndata = a\n",
        "bad.ini:5: [transfer.x] task", "reads no labels");
    bad("[compare]\nrepresentations = random, simclr\n", "[compare] representations",
        "needs a [simclr] section");
    bad("[student]\ninit = simclr\n", "bad.ini:2: [student] init", "needs a [simclr] section");
    bad("[task.simclr]\n[data.u]\nworld = unlabelled\n[simclr]\ndata = u\ninit = simclr\n",
        "[simclr] init", "[simclr] -> [simclr]");
    bad("[task.simclr]\n[data.u]\nworld = unlabelled\n[simclr]\ndata = u\ngrey = 2\n",
        "bad.ini:6: [simclr] grey", "out of range");
}
END_TEST

static void count(void *u, const char *s, const char *k, const char *d, const char *h)
{
    (void)s, (void)d;
    ck_assert_ptr_nonnull(k);
    ck_assert_msg(h && *h, "key %s has no help", k);
    (*(int *)u)++;
}

START_TEST(test_describe_covers_every_key)
{
    /* Every documented key has a help line (docs/experiments.md is made
     * from the same table). */
    int n = 0;
    must_exp_describe(count, &n);
    ck_assert_int_gt(n, 40);
}
END_TEST


int main(void)
{
    Suite *s = suite_create("experiment");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_good);
    tcase_add_test(tc, test_paper_rule);
    tcase_add_test(tc, test_variants);
    tcase_add_test(tc, test_uncertainty);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_seeds);
    tcase_add_test(tc, test_simclr);
    tcase_add_test(tc, test_describe_covers_every_key);
    suite_add_tcase(s, tc);
    return test_run(s);
}
