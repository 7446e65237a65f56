# sweeputil.sh - what tests/fault_sweep.sh and tests/kill_sweep.sh share
# (sourced, not run): the stages, each run once cleanly as the reference,
# and the comparisons.
#
# A stage is one command run in a work folder W ($T/w) that starts as a
# copy of the stage's "before" state ($T/ref/BEFORE) and must end as
# $T/ref/STAGE:
#   world     must world generate (a set and its truth) into W/out
#   images    must import images of a folder of PNGs into W/out
#   coco      must import coco of a COCO file over those PNGs into W/out
#   teachers, label, student, transfer, report
#             must run tests/data/faults.ini --stage S --out run in W, each
#             starting from the run the stage before it left
# Every command names its files relative to W (--out run), so that the
# files that record a path (a pseudo-labelled set names its teachers, the
# report the command) are the same in every copy.
#
# Compared byte for byte: every file, except
#   .lock                       the PID of the last process that held the
#                               run (core/pipeline/lock.c)
#   events.out.tfevents.must    TensorBoard's format has each event's wall
#                               time (core/pipeline/tboard.c); only that the
#                               files are there is compared
# No log files are written into these folders; the programs' output goes
# to $T/*.log.

must=${MUST_BIN:-./must}
src=${MUST_SRCDIR:-.}
fails=0
STAGES="world images coco teachers label student transfer report"
EXCLUDE="-x .lock -x events.out.tfevents.must"

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

before_of() { # STAGE
    case $1 in
    world | teachers) echo none ;;
    images | coco) echo source ;;
    label) echo teachers ;;
    student) echo label ;;
    transfer) echo student ;;
    report) echo transfer ;;
    esac
}

# Runs STAGE's command in the current directory (a work folder).  With
# EXEC=exec the shell becomes the program (a subshell started with & is
# then the process to signal, not a shell that would leave it running).
EXEC=
stage_cmd() { # STAGE
    case $1 in
    world)
        $EXEC "$must" world generate --domain teach-det --count 5 --size 16 --truth --threads 1 \
            --quiet --out out ;;
    images)
        $EXEC "$must" import images "$T/ref/source/pics" out --val 0.2 --test 0.2 --seed 1 ;;
    coco)
        $EXEC "$must" import coco --annotations "$T/ref/source/coco.json" --images "$T/ref/source/pics" \
            out --seed 1 ;;
    *)
        $EXEC "$must" run "$T/faults.ini" --stage "$1" --out run ;;
    esac
}

# 0 when the work folder holds STAGE's finished output that its command
# would refuse to write again: an importer will not overwrite a set
# (core/data/dataset_write.c), so a run killed after its dataset.ini has
# nothing left to do.  The pipeline's stages and world generate rerun.
finished() { # STAGE
    case $1 in
    images | coco) [ -f "$T/w/out/dataset.ini" ] ;;
    *) return 1 ;;
    esac
}

# The COCO file over the first three pictures: two categories, polygons, a
# box, an image without annotations.
write_coco() { # FILE
    cat >"$1" <<'EOF'
{"images": [
  {"id": 1, "file_name": "p/000000.png", "width": 16, "height": 16},
  {"id": 2, "file_name": "p/000001.png", "width": 16, "height": 16},
  {"id": 3, "file_name": "q/000002.png", "width": 16, "height": 16}],
 "categories": [{"id": 3, "name": "box"}, {"id": 1, "name": "disc"}],
 "annotations": [
  {"id": 10, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [2, 2, 8, 6],
   "segmentation": [[2, 2, 10, 2, 10, 8, 2, 8]]},
  {"id": 11, "image_id": 2, "category_id": 1, "iscrowd": 0, "bbox": [4, 4, 6, 6],
   "segmentation": [[4, 4, 10, 4, 10, 10, 4, 10]]},
  {"id": 12, "image_id": 2, "category_id": 3, "iscrowd": 0, "bbox": [1, 9, 5, 5],
   "segmentation": [[1, 9, 6, 9, 6, 14, 1, 14]]}]}
EOF
}

# The references: $T/ref/STAGE for every stage, each made by its command
# from a copy of the stage before it.  $T/faults.ini is the experiment, at
# a fixed absolute path (the report quotes the command).
make_refs() {
    rm -rf "$T/ref"
    mkdir -p "$T/ref/none" "$T/ref/source/pics/p" "$T/ref/source/pics/q"
    rm -f "$T/faults.ini" && cp "$src/tests/data/faults.ini" "$T/faults.ini"
    "$must" world generate --domain unlabelled --count 4 --size 16 --threads 1 --quiet \
        --out "$T/ref/source/gen" >"$T/ref.log" 2>&1 || { cat "$T/ref.log"; return 1; }
    cp "$T/ref/source/gen/images/000000.png" "$T/ref/source/gen/images/000001.png" \
        "$T/ref/source/pics/p/"
    cp "$T/ref/source/gen/images/000002.png" "$T/ref/source/gen/images/000003.png" \
        "$T/ref/source/pics/q/"
    write_coco "$T/ref/source/coco.json"
    for s in $STAGES; do
        cp -a "$T/ref/$(before_of $s)" "$T/ref/$s"
        (cd "$T/ref/$s" && stage_cmd $s) >"$T/ref.log" 2>&1 || {
            cat "$T/ref.log"
            echo "the clean $s stage failed"
            return 1
        }
    done
}

# Starts the work folder W as a copy of STAGE's before state.
work_from() { # STAGE
    rm -rf "$T/w"
    cp -a "$T/ref/$(before_of $1)" "$T/w"
}

# The work folder is the stage's reference, byte for byte (events files:
# there, not compared); no temporaries left.  WHAT names the case.
same_as_ref() { # STAGE WHAT
    if ! diff -r $EXCLUDE "$T/ref/$1" "$T/w" >"$T/diff.out" 2>&1; then
        fail "$2: differs from a clean run: $(head -5 "$T/diff.out")"
        return 1
    fi
    (cd "$T/ref/$1" && find . ! -name .lock | sort) >"$T/files.ref"
    (cd "$T/w" && find . ! -name .lock | sort) >"$T/files.w"
    if ! cmp -s "$T/files.ref" "$T/files.w"; then
        fail "$2: other files than a clean run's: $(diff "$T/files.ref" "$T/files.w" | head -5)"
        return 1
    fi
    return 0
}

# Two folders hold the same files (TEMPS=1: but for temporaries).
same_dir() { # A B TEMPS
    if [ "$3" = 1 ]; then
        diff -rq $EXCLUDE -x '*.tmp.[0-9]*' "$1" "$2" >/dev/null 2>&1
    else
        diff -rq $EXCLUDE "$1" "$2" >/dev/null 2>&1
    fi
}

# A work folder left by a failed or killed command holds nothing that looks
# finished and is not: every file it shares with the reference is the same
# (but a loss.csv, which is written with each checkpoint: a beginning of the
# final one); a unit with `done` and a set with dataset.ini are whole; the
# files the reference lacks are checkpoints that load.  TEMPS=1: the
# temporaries of a killed process are allowed (the next run removes them).
looks_consistent() { # STAGE WHAT TEMPS
    ref=$T/ref/$1
    bad=0
    diff -rq $EXCLUDE "$ref" "$T/w" >"$T/diffq.out" 2>&1
    while IFS= read -r line; do
        case $line in
        "Only in $ref"*) ;;
        "Files $ref/"*" differ")
            f=${line#"Files $ref/"}
            f=${f%% and *}
            case $f in
            */loss.csv)
                n=$(wc -c <"$T/w/$f")
                head -c "$n" "$ref/$f" | cmp -s - "$T/w/$f" ||
                    { fail "$2: $f is not a beginning of the clean run's"; bad=1; } ;;
            *) fail "$2: $f differs from the clean run's (half written?)"; bad=1 ;;
            esac ;;
        "Only in $T/w"*)
            d=${line#"Only in "}
            f=${d%%: *}/${d#*: }
            case $f in
            *.tmp.[0-9]*) [ "$3" = 1 ] || { fail "$2: temporary left: $f"; bad=1; } ;;
            */resume.safetensors | */model-[0-9]*.safetensors)
                "$must" inspect "$f" >/dev/null 2>&1 ||
                    { fail "$2: $f does not load"; bad=1; } ;;
            *) fail "$2: $f is not in the clean run"; bad=1 ;;
            esac ;;
        *) fail "$2: diff: $line"; bad=1 ;;
        esac
    done <"$T/diffq.out"
    # (A killed rerun over a finished set leaves its temporaries beside the
    # set's files, which are whole: readers and the next writer pass them.)
    for f in $(cd "$T/w" && find . -name done -o -name dataset.ini); do
        d=$(dirname "$f")
        if [ ! -d "$ref/$d" ] || ! same_dir "$ref/$d" "$T/w/$d" $3; then
            fail "$2: $f says finished but $d is not the clean run's"
            bad=1
        fi
    done
    return $bad
}
