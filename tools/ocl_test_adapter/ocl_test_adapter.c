/*
 * OpenCL adapter for TEST DEVICES ONLY (PoCL and Mesa rusticl on a CPU, in the
 * emulated arm64 test bed). It must never ship, never be installed, and never be
 * loaded next to a real GPU driver: tools/dev.sh builds it into /cache/ocl-adapter/
 * and puts that directory on LD_LIBRARY_PATH for the CL test runs only.
 *
 * Why it exists: ARM Compute Library's OpenCL backend needs non-uniform work-group
 * sizes, which Mali drivers provide and the CPU OpenCL drivers do not report, so
 * ACL aborts in CLCompileContext::generate_build_options before running anything.
 * This library is built as libOpenCL.so (the name ACL dlopens) and linked with
 * --no-as-needed against the real ICD loader (libOpenCL.so.1), so every entry
 * point it does not define resolves there. It changes exactly four things:
 *   (a) clGetDeviceInfo(CL_DEVICE_NON_UNIFORM_WORK_GROUP_SUPPORT) answers CL_TRUE;
 *   (b) clBuildProgram drops -cl-arm-* options and a -cl-std=CLx.y newer than the
 *       device's CL_DEVICE_OPENCL_C_VERSION;
 *   (c) clEnqueueNDRangeKernel splits a launch whose local size does not divide the
 *       global size into full groups plus remainder groups (own global offsets,
 *       OpenCL 2.0 semantics), joined by a marker event;
 *   (d) clCreateProgramWithSource blanks self-referential `#define X X` lines
 *       (ACL's helpers.h has one that breaks PoCL's own macro of that name).
 */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef cl_int (*GetDeviceInfoFn)(cl_device_id, cl_device_info, size_t, void *, size_t *);
typedef cl_int (*BuildProgramFn)(cl_program, cl_uint, const cl_device_id *, const char *,
                                 void(CL_CALLBACK *)(cl_program, void *), void *);
typedef cl_int (*GetProgramInfoFn)(cl_program, cl_program_info, size_t, void *, size_t *);
typedef cl_int (*EnqueueNDRangeFn)(cl_command_queue, cl_kernel, cl_uint, const size_t *,
                                   const size_t *, const size_t *, cl_uint, const cl_event *,
                                   cl_event *);
typedef cl_int (*EnqueueMarkerFn)(cl_command_queue, cl_uint, const cl_event *, cl_event *);
typedef cl_int (*ReleaseEventFn)(cl_event);
typedef cl_program (*CreateProgramWithSourceFn)(cl_context, cl_uint, const char **,
                                                const size_t *, cl_int *);

static struct {
    GetDeviceInfoFn get_device_info;
    BuildProgramFn build_program;
    GetProgramInfoFn get_program_info;
    EnqueueNDRangeFn enqueue_nd_range;
    EnqueueMarkerFn enqueue_marker;
    ReleaseEventFn release_event;
    CreateProgramWithSourceFn create_program_with_source;
} real;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *must_find(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (!f) {
        fprintf(stderr, "ocl_test_adapter: %s not found in libOpenCL.so.1\n", name);
        abort();
    }
    return f;
}

static void load_real(void) {
    /* Already loaded as our DT_NEEDED: this only returns its handle. */
    void *lib = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "ocl_test_adapter: cannot open libOpenCL.so.1: %s\n", dlerror());
        abort();
    }
    real.get_device_info = (GetDeviceInfoFn)must_find(lib, "clGetDeviceInfo");
    real.build_program = (BuildProgramFn)must_find(lib, "clBuildProgram");
    real.get_program_info = (GetProgramInfoFn)must_find(lib, "clGetProgramInfo");
    real.enqueue_nd_range = (EnqueueNDRangeFn)must_find(lib, "clEnqueueNDRangeKernel");
    real.enqueue_marker = (EnqueueMarkerFn)must_find(lib, "clEnqueueMarkerWithWaitList");
    real.release_event = (ReleaseEventFn)must_find(lib, "clReleaseEvent");
    real.create_program_with_source =
        (CreateProgramWithSourceFn)must_find(lib, "clCreateProgramWithSource");
}

#define REAL(fn) (pthread_once(&once, load_real), real.fn)

/* ---- (a) ---- */
CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info name,
                                                size_t size, void *value, size_t *size_ret) {
    if (name == CL_DEVICE_NON_UNIFORM_WORK_GROUP_SUPPORT) {
        if (size_ret) *size_ret = sizeof(cl_bool);
        if (value) {
            if (size < sizeof(cl_bool)) return CL_INVALID_VALUE;
            *(cl_bool *)value = CL_TRUE;
        }
        return CL_SUCCESS;
    }
    return REAL(get_device_info)(device, name, size, value, size_ret);
}

/* ---- (b) ---- */
/* "OpenCL C 1.2 pocl" -> 12; 0 when unknown (then nothing is dropped). */
static int opencl_c_version(cl_program program, cl_uint num_devices,
                            const cl_device_id *devices) {
    cl_device_id dev = NULL;
    if (num_devices > 0 && devices) {
        dev = devices[0];
    } else if (REAL(get_program_info)(program, CL_PROGRAM_DEVICES, sizeof dev, &dev, NULL) !=
               CL_SUCCESS) {
        return 0;
    }
    char text[256] = {0};
    if (REAL(get_device_info)(dev, CL_DEVICE_OPENCL_C_VERSION, sizeof text - 1, text, NULL) !=
        CL_SUCCESS)
        return 0;
    int major = 0, minor = 0;
    if (sscanf(text, "OpenCL C %d.%d", &major, &minor) != 2) return 0;
    return major * 10 + minor;
}

static int keep_option(const char *tok, size_t len, int device_c_version) {
    if (len >= 8 && strncmp(tok, "-cl-arm-", 8) == 0) return 0;
    if (len > 10 && strncmp(tok, "-cl-std=CL", 10) == 0 && device_c_version > 0) {
        int major = 0, minor = 0;
        if (sscanf(tok + 10, "%d.%d", &major, &minor) == 2 &&
            major * 10 + minor > device_c_version)
            return 0;
    }
    return 1;
}

CL_API_ENTRY cl_int CL_API_CALL clBuildProgram(cl_program program, cl_uint num_devices,
                                               const cl_device_id *device_list,
                                               const char *options,
                                               void(CL_CALLBACK *notify)(cl_program, void *),
                                               void *user_data) {
    if (!options) return REAL(build_program)(program, num_devices, device_list, NULL, notify,
                                             user_data);
    int cver = opencl_c_version(program, num_devices, device_list);
    size_t n = strlen(options);
    char *out = malloc(n + 1);
    if (!out) return CL_OUT_OF_HOST_MEMORY;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && isspace((unsigned char)options[i])) ++i;
        size_t start = i;
        while (i < n && !isspace((unsigned char)options[i])) ++i;
        if (i > start && keep_option(options + start, i - start, cver)) {
            if (w) out[w++] = ' ';
            memcpy(out + w, options + start, i - start);
            w += i - start;
        }
    }
    out[w] = '\0';
    cl_int rc = REAL(build_program)(program, num_devices, device_list, out, notify, user_data);
    free(out);
    return rc;
}

/* ---- (c) ---- */
CL_API_ENTRY cl_int CL_API_CALL clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel,
                                                       cl_uint dim, const size_t *offset,
                                                       const size_t *global, const size_t *local,
                                                       cl_uint num_wait, const cl_event *wait,
                                                       cl_event *event) {
    int uneven = 0;
    if (local && global && dim >= 1 && dim <= 3)
        for (cl_uint d = 0; d < dim; ++d)
            if (local[d] > 0 && global[d] % local[d] != 0) uneven = 1;
    if (!uneven)
        return REAL(enqueue_nd_range)(queue, kernel, dim, offset, global, local, num_wait, wait,
                                      event);
    /* Per dimension: part 0 = the full groups, part 1 = the remainder group. */
    size_t part_size[3][2], part_local[3][2], part_offset[3][2];
    for (cl_uint d = 0; d < dim; ++d) {
        size_t base = offset ? offset[d] : 0;
        size_t full = global[d] / local[d] * local[d], rest = global[d] - full;
        part_size[d][0] = full;
        part_local[d][0] = local[d];
        part_offset[d][0] = base;
        part_size[d][1] = rest;
        part_local[d][1] = rest;
        part_offset[d][1] = base + full;
    }
    cl_event events[8];
    cl_uint launched = 0;
    cl_int rc = CL_SUCCESS;
    for (unsigned combo = 0; combo < (1u << dim) && rc == CL_SUCCESS; ++combo) {
        size_t g[3], l[3], o[3];
        int empty = 0;
        for (cl_uint d = 0; d < dim; ++d) {
            int p = (combo >> d) & 1;
            g[d] = part_size[d][p];
            l[d] = part_local[d][p];
            o[d] = part_offset[d][p];
            if (g[d] == 0) empty = 1;
        }
        if (empty) continue;
        rc = REAL(enqueue_nd_range)(queue, kernel, dim, o, g, l, num_wait, wait,
                                    event ? &events[launched] : NULL);
        if (rc == CL_SUCCESS && event) ++launched;
    }
    if (rc == CL_SUCCESS && event) rc = REAL(enqueue_marker)(queue, launched, events, event);
    for (cl_uint i = 0; i < launched; ++i) REAL(release_event)(events[i]);
    return rc;
}

/* ---- (d) ---- */
static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* True for a line "#define X X" (any spacing). */
static int self_define(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\t')) ++s;
    if (s == end || *s != '#') return 0;
    ++s;
    while (s < end && (*s == ' ' || *s == '\t')) ++s;
    if (end - s < 7 || strncmp(s, "define", 6) != 0 || (s[6] != ' ' && s[6] != '\t')) return 0;
    s += 6;
    while (s < end && (*s == ' ' || *s == '\t')) ++s;
    const char *a = s;
    while (s < end && ident_char(*s)) ++s;
    size_t alen = (size_t)(s - a);
    if (alen == 0 || s == end || (*s != ' ' && *s != '\t')) return 0;
    while (s < end && (*s == ' ' || *s == '\t')) ++s;
    const char *b = s;
    while (s < end && ident_char(*s)) ++s;
    size_t blen = (size_t)(s - b);
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r')) ++s;
    return s == end && alen == blen && memcmp(a, b, alen) == 0;
}

CL_API_ENTRY cl_program CL_API_CALL clCreateProgramWithSource(cl_context context, cl_uint count,
                                                              const char **strings,
                                                              const size_t *lengths,
                                                              cl_int *errcode_ret) {
    if (!strings || count == 0)
        return REAL(create_program_with_source)(context, count, strings, lengths, errcode_ret);
    size_t total = 0;
    for (cl_uint i = 0; i < count; ++i)
        total += (lengths && lengths[i]) ? lengths[i] : (strings[i] ? strlen(strings[i]) : 0);
    char *src = malloc(total + 1);
    if (!src) {
        if (errcode_ret) *errcode_ret = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    size_t w = 0;
    for (cl_uint i = 0; i < count; ++i) {
        size_t n = (lengths && lengths[i]) ? lengths[i] : (strings[i] ? strlen(strings[i]) : 0);
        memcpy(src + w, strings[i], n);
        w += n;
    }
    src[w] = '\0';
    for (char *line = src; line < src + w;) {
        char *nl = memchr(line, '\n', (size_t)(src + w - line));
        char *end = nl ? nl : src + w;
        if (self_define(line, end)) memset(line, ' ', (size_t)(end - line));
        line = nl ? nl + 1 : src + w;
    }
    const char *one = src;
    cl_program p = REAL(create_program_with_source)(context, 1, &one, &w, errcode_ret);
    free(src);
    return p;
}
