/* fuzz_world.c - a world domain INI from a stranger (must world generate
 * --domain FILE, an experiment's world = FILE.ini): must_world_domain_parse,
 * then, for a domain that parses, the first scenes drawn from it and one
 * rendered into 16 x 16 labels (what every value of the domain ends up
 * shaping). */
#include "config.h"

#include "fuzz-util.h"
#include "must/world.h"

static must_world_frame frame;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    must_err e = {0};
    if (must_world_frame_alloc(&frame, 16, &e) != MUST_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    must_err err = {0};
    must_world_domain *d;
    if (must_world_domain_parse(text, "fuzz-domain.ini", &d, &err) == MUST_OK) {
        static must_world_scene scene;
        for (uint64_t i = 0; i < 4; i++)
            must_world_sample(d, 7, i, 0, &scene, &err);
        must_world_label_index(d, 7, 0, &frame, &scene, &err);
        for (int s = 0; s < 4; s++)
            must_world_domain_split_of(d, (uint64_t)s);
        must_world_domain_free(d);
    } else if (!err.msg[0]) {
        abort();
    }
    free(text);
    return 0;
}
