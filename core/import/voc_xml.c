/* voc_xml.c - one Pascal VOC annotation file (Annotations/<id>.xml) read
 * with libxml2, which is optional (configure's --with-libxml2): without it
 * voc_xml_read says that this build cannot read them.
 *
 * The parser runs with XML_PARSE_NONET and without XML_PARSE_NOENT,
 * XML_PARSE_DTDLOAD or XML_PARSE_DTDATTR, so nothing is fetched and no
 * entity is substituted; and a document type declaration is refused as it
 * starts (VOC's files have none), so that no entity is even declared. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "voc-impl.h"
#include "must/io.h"

const char *const voc_classes[VOC_NCLASSES] = {
    "aeroplane", "bicycle", "bird",  "boat",      "bottle", "bus",         "car",
    "cat",       "chair",   "cow",   "diningtable", "dog",  "horse",       "motorbike",
    "person",    "pottedplant", "sheep", "sofa",  "train",  "tvmonitor"};

void voc_annotation_free(voc_annotation *a)
{
    if (a) {
        free(a->obj);
        memset(a, 0, sizeof *a);
    }
}

#ifndef HAVE_LIBXML2

int voc_xml_available(void)
{
    return 0;
}

int voc_xml_read(const char *path, voc_annotation *a, must_err *err)
{
    memset(a, 0, sizeof *a);
    return must_err_set(err, MUST_EINVAL, "%s: this build of must reads no XML: it was "
                        "configured without libxml2", path);
}

#else

#include <libxml/parser.h>
#include <libxml/tree.h>

int voc_xml_available(void)
{
    return 1;
}

/* The parser's internalSubset callback: called at "<!DOCTYPE name", before
 * any declaration in it is read.  Stops the parse (voc_xml_read reports
 * the stop as the refusal). */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                           const xmlChar *sys_id)
{
    (void)name;
    (void)ext_id;
    (void)sys_id;
    xmlStopParser((xmlParserCtxtPtr)ctx);
}

/* The only child element of node called name, or NULL; a second one is an
 * error naming both lines. */
static int child(const char *path, xmlNodePtr node, const char *name, xmlNodePtr *out,
                 must_err *err)
{
    *out = NULL;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, name) != 0)
            continue;
        if (*out)
            return must_err_set(err, MUST_EFORMAT, "%s:%ld: a second <%s> in <%s> (the first "
                                "at line %ld)", path, xmlGetLineNo(c), name, node->name,
                                xmlGetLineNo(*out));
        *out = c;
    }
    return MUST_OK;
}

/* The child element name, which must be there. */
static int need(const char *path, xmlNodePtr node, const char *name, xmlNodePtr *out,
                must_err *err)
{
    int rc = child(path, node, name, out, err);
    if (!rc && !*out)
        rc = must_err_set(err, MUST_EFORMAT, "%s:%ld: <%s> has no <%s>", path,
                          xmlGetLineNo(node), node->name, name);
    return rc;
}

/* node's text without the blanks around it, cut to size - 1 bytes. */
static void text_of(xmlNodePtr node, char *buf, size_t size)
{
    xmlChar *t = xmlNodeGetContent(node);
    const char *s = t ? (const char *)t : "";
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    xmlFree(t);
}

/* A finite number (VOC's coordinates are whole pixels; decimals are taken too). */
static int number(const char *path, xmlNodePtr node, double *v, must_err *err)
{
    char buf[64], *end;
    text_of(node, buf, sizeof buf);
    *v = strtod(buf, &end);
    if (!buf[0] || *end || !isfinite(*v))
        return must_err_set(err, MUST_EFORMAT, "%s:%ld: <%s> '%s' is not a number", path,
                            xmlGetLineNo(node), node->name, buf);
    return MUST_OK;
}

/* <difficult>: 0 or 1, 0 when absent. */
static int difficult(const char *path, xmlNodePtr obj, int *out, must_err *err)
{
    xmlNodePtr d;
    double v = 0.0;
    int rc = child(path, obj, "difficult", &d, err);
    if (!rc && d && !(rc = number(path, d, &v, err)) && v != 0.0 && v != 1.0)
        rc = must_err_set(err, MUST_EFORMAT, "%s:%ld: <difficult> %g is not 0 or 1", path,
                          xmlGetLineNo(d), v);
    *out = v == 1.0;
    return rc;
}

static int read_object(const char *path, xmlNodePtr node, voc_object *o, must_err *err)
{
    static const char *const coords[4] = {"xmin", "ymin", "xmax", "ymax"};
    double *dst[4] = {&o->xmin, &o->ymin, &o->xmax, &o->ymax};
    xmlNodePtr name, box;
    char buf[128];
    memset(o, 0, sizeof *o);
    o->line = xmlGetLineNo(node);
    int rc = need(path, node, "name", &name, err);
    if (rc)
        return rc;
    text_of(name, buf, sizeof buf);
    o->cls = -1;
    for (int k = 0; k < VOC_NCLASSES; k++)
        if (strcmp(buf, voc_classes[k]) == 0)
            o->cls = k;
    if (o->cls < 0)
        return must_err_set(err, MUST_EFORMAT, "%s:%ld: <name> '%s' is not one of the 20 "
                            "Pascal VOC classes (aeroplane, bicycle, ..., tvmonitor)", path,
                            xmlGetLineNo(name), buf);
    if ((rc = difficult(path, node, &o->difficult, err)) ||
        (rc = need(path, node, "bndbox", &box, err)))
        return rc;
    for (int k = 0; k < 4; k++) {
        xmlNodePtr c;
        if ((rc = need(path, box, coords[k], &c, err)) || (rc = number(path, c, dst[k], err)))
            return rc;
        o->coord_line[k] = xmlGetLineNo(c);
    }
    return MUST_OK;
}

/* <size>'s width and height, when it is there. */
static int read_size(const char *path, xmlNodePtr root, voc_annotation *a, must_err *err)
{
    xmlNodePtr size, w, h;
    double v[2];
    int rc = child(path, root, "size", &size, err);
    if (rc || !size)
        return rc;
    if ((rc = need(path, size, "width", &w, err)) || (rc = need(path, size, "height", &h, err)) ||
        (rc = number(path, w, &v[0], err)) || (rc = number(path, h, &v[1], err)))
        return rc;
    a->width = v[0] >= 0 && v[0] <= 1 << 16 ? (int)v[0] : -1;
    a->height = v[1] >= 0 && v[1] <= 1 << 16 ? (int)v[1] : -1;
    a->size_line = xmlGetLineNo(size);
    return MUST_OK;
}

/* The annotation in the parsed document. */
static int read_doc(const char *path, xmlDocPtr doc, voc_annotation *a, must_err *err)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), fn;
    if (!root || strcmp((const char *)root->name, "annotation") != 0)
        return must_err_set(err, MUST_EFORMAT, "%s:%ld: the root element is <%s>, not "
                            "<annotation>", path, root ? xmlGetLineNo(root) : 1L,
                            root ? (const char *)root->name : "");
    int rc = child(path, root, "filename", &fn, err);
    if (!rc && fn)
        text_of(fn, a->filename, sizeof a->filename);
    if (!rc)
        rc = read_size(path, root, a, err);
    int cap = 0;
    for (xmlNodePtr c = root->children; !rc && c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "object") != 0)
            continue;
        if (a->nobj == cap) {
            cap = cap ? 2 * cap : 8;
            voc_object *v = realloc(a->obj, (size_t)cap * sizeof *v);
            if (!v)
                return must_err_set(err, MUST_ENOMEM, "out of memory");
            a->obj = v;
        }
        rc = read_object(path, c, &a->obj[a->nobj], err);
        a->nobj += !rc;
    }
    return rc;
}

/* libxml2's error of a parse that gave no document, as file:line: text. */
static int parse_error(const char *path, xmlParserCtxtPtr ctxt, must_err *err)
{
    if (ctxt->errNo == XML_ERR_USER_STOP)
        return must_err_set(err, MUST_EFORMAT, "%s:%d: a document type declaration "
                            "(<!DOCTYPE>): refused, VOC's annotations have none and its "
                            "entities could read other files", path,
                            ctxt->input ? ctxt->input->line : 1);
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", e && e->message ? e->message : "cannot parse");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    return must_err_set(err, MUST_EFORMAT, "%s:%d: not well-formed XML: %s", path,
                        e ? e->line : 0, msg);
}

int voc_xml_read(const char *path, voc_annotation *a, must_err *err)
{
    memset(a, 0, sizeof *a);
    char *buf;
    size_t len;
    int rc = must_file_read(path, &buf, &len, err);
    if (rc)
        return rc;
    if (len > (size_t)1 << 30) {
        free(buf);
        return must_err_set(err, MUST_EFORMAT, "%s: %zu bytes: too large for an annotation",
                            path, len);
    }
    xmlInitParser(); /* once per process; safe to call again */
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        free(buf);
        return must_err_set(err, MUST_ENOMEM, "out of memory");
    }
    ctxt->sax->internalSubset = refuse_doctype;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, path, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                          XML_PARSE_BIG_LINES);
    if (!doc || ctxt->errNo == XML_ERR_USER_STOP || !ctxt->wellFormed)
        rc = parse_error(path, ctxt, err);
    else
        rc = read_doc(path, doc, a, err);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    free(buf);
    if (rc)
        voc_annotation_free(a);
    return rc;
}

#endif
