/* Frame-exact tests and the benchmark of the Easel OBS filter, through libobs itself.
 *
 *   frametest cases MODULE_SO MODULE_DATA FRAME.png OUTDIR SOCKET
 *     For each case (pass, colour, transparent, blur, image, restart) an image source showing
 *     FRAME.png with the Easel filter is the output; the composited output frames (RGBA through
 *     libobs's own GPU conversion) are written to OUTDIR/CASE.rgba (+ .json); the Python checker
 *     asserts on the pixels. "restart" runs EASEL_KILL_CMD, then EASEL_START_CMD. Then fix low
 *     light on OUTDIR/dark.png and match look towards OUTDIR/look-reference.png, each without
 *     a daemon (lowlight-pass, look-pass) and with it (lowlight, look; dark-source: the dark
 *     frame).
 *   frametest bench MODULE_SO MODULE_DATA BG.png PERSON.png OUTDIR SOCKET MODE SOURCES SECONDS
 *     SOURCES moving-person sources of 1280x720 at 30 fps side by side (each with the filter,
 *     MODE async, sync, pass (no daemon), or none), for SECONDS; writes OUTDIR/bench-MODE-N.json.
 */
#include <obs.h>
#include <obs-module.h>
#include <obs-nix-platform.h>
#include <graphics/image-file.h>
#include <util/platform.h>
#include <util/threading.h>
#include <X11/Xlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>
#include <sys/resource.h>

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *last;
static uint32_t W, H;
static uint64_t frames;

static void on_frame(void *param, struct video_data *frame)
{
	(void)param;
	pthread_mutex_lock(&mtx);
	for (uint32_t y = 0; y < H; y++)
		memcpy(last + (size_t)y * W * 4, frame->data[0] + (size_t)y * frame->linesize[0], (size_t)W * 4);
	frames++;
	pthread_mutex_unlock(&mtx);
}

static uint64_t frame_count(void)
{
	pthread_mutex_lock(&mtx);
	uint64_t n = frames;
	pthread_mutex_unlock(&mtx);
	return n;
}

static void wait_frames(uint64_t n)
{
	uint64_t start = frame_count();
	for (int i = 0; i < 4000 && frame_count() < start + n; i++)
		os_sleep_ms(5);
}

static uint8_t *snapshot(void)
{
	uint8_t *copy = malloc((size_t)W * H * 4);
	pthread_mutex_lock(&mtx);
	memcpy(copy, last, (size_t)W * H * 4);
	pthread_mutex_unlock(&mtx);
	return copy;
}

/* Mean absolute difference of two frames over a box (x0,y0)-(x1,y1). */
static double box_diff(const uint8_t *a, const uint8_t *b, int x0, int y0, int x1, int y1)
{
	double s = 0;
	long n = 0;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			for (int c = 0; c < 3; c++) {
				size_t i = ((size_t)y * W + x) * 4 + c;
				s += abs((int)a[i] - (int)b[i]);
				n++;
			}
	return n ? s / n : 0;
}

/* Mean absolute horizontal gradient over a box (how sharp it is). */
static double box_grad(const uint8_t *a, int x0, int y0, int x1, int y1)
{
	double s = 0;
	long n = 0;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x + 1 < x1; x++)
			for (int c = 0; c < 3; c++) {
				size_t i = ((size_t)y * W + x) * 4 + c;
				s += abs((int)a[i] - (int)a[i + 4]);
				n++;
			}
	return n ? s / n : 0;
}

static void save(const char *dir, const char *name, const uint8_t *px, const char *extra)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.rgba", dir, name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(px, 1, (size_t)W * H * 4, f);
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "{\"width\": %u, \"height\": %u, \"frames\": %llu%s%s}\n", W, H,
			(unsigned long long)frame_count(), extra ? ", " : "", extra ? extra : "");
		fclose(f);
	}
}

static bool load_module(const char *bin, const char *data)
{
	obs_module_t *m = NULL;
	int r = obs_open_module(&m, bin, data);
	if (r != MODULE_SUCCESS) {
		fprintf(stderr, "cannot open module %s (%d)\n", bin, r);
		return false;
	}
	if (!obs_init_module(m)) {
		fprintf(stderr, "cannot init module %s\n", bin);
		return false;
	}
	return true;
}

static bool start(uint32_t w, uint32_t h, const char *module_so, const char *module_data)
{
	Display *dpy = XOpenDisplay(NULL);
	if (!dpy) {
		fprintf(stderr, "no X display\n");
		return false;
	}
	obs_set_nix_platform(OBS_NIX_PLATFORM_X11_EGL);
	obs_set_nix_platform_display(dpy);
	if (!obs_startup("en-US", NULL, NULL))
		return false;
	struct obs_video_info ovi = {0};
	ovi.graphics_module = "libobs-opengl";
	ovi.fps_num = 30;
	ovi.fps_den = 1;
	ovi.base_width = ovi.output_width = w;
	ovi.base_height = ovi.output_height = h;
	ovi.output_format = VIDEO_FORMAT_NV12;
	ovi.colorspace = VIDEO_CS_709;
	ovi.range = VIDEO_RANGE_FULL;
	ovi.gpu_conversion = true;
	ovi.scale_type = OBS_SCALE_BICUBIC;
	int r = obs_reset_video(&ovi);
	if (r != OBS_VIDEO_SUCCESS) {
		fprintf(stderr, "obs_reset_video: %d\n", r);
		return false;
	}
	W = w;
	H = h;
	last = calloc((size_t)w * h, 4);
	if (!load_module("/usr/lib/x86_64-linux-gnu/obs-plugins/image-source.so",
			 "/usr/share/obs/obs-plugins/image-source"))
		return false;
	if (!load_module(module_so, module_data))
		return false;
	struct video_scale_info conv = {0};
	conv.format = VIDEO_FORMAT_RGBA;
	conv.width = w;
	conv.height = h;
	conv.range = VIDEO_RANGE_FULL;
	conv.colorspace = VIDEO_CS_709;
	obs_add_raw_video_callback(&conv, on_frame, NULL);
	return true;
}

static obs_source_t *filter_for(const char *name, const char *socket, const char *mode, const char *bg)
{
	obs_data_t *s = obs_data_create();
	obs_data_set_string(s, "socket", socket);
	obs_data_set_string(s, "mode", mode);
	obs_data_set_int(s, "bg_colour", 0xff00ff00); /* green */
	if (bg)
		obs_data_set_string(s, "bg_image", bg);
	obs_source_t *f = obs_source_create("easel_filter", name, s, NULL);
	obs_data_release(s);
	return f;
}

/* ------------------------------------------------------------------------------ cases */

/* Boxes in the test frame (640x360, the girl photo): sky and mountains vs her shirt and face. */
#define BG_BOX 10, 10, 90, 60
#define BG_BOX2 540, 200, 630, 300

static int cases(int argc, char **argv)
{
	if (argc < 7)
		return 2;
	const char *so = argv[2], *data = argv[3], *frame = argv[4], *out = argv[5], *sock = argv[6];
	if (!start(640, 360, so, data))
		return 3;
	obs_data_t *is = obs_data_create();
	obs_data_set_string(is, "file", frame);
	obs_source_t *src = obs_source_create("image_source", "frame", is, NULL);
	obs_data_release(is);
	obs_set_output_source(0, src);

	/* pass: the filter with no daemon at its socket: the frame unchanged. */
	char nosock[4096];
	snprintf(nosock, sizeof nosock, "%s/no-daemon.sock", out);
	obs_source_t *f = filter_for("easel pass", nosock, "colour", NULL);
	obs_source_filter_add(src, f);
	wait_frames(20);
	uint8_t *ref = snapshot();
	save(out, "pass", ref, NULL);
	obs_source_filter_remove(src, f);
	obs_source_release(f);

	const char *modes[] = {"colour", "transparent", "blur", "image"};
	char bgpath[4096];
	snprintf(bgpath, sizeof bgpath, "%s/red.png", out);
	for (int m = 0; m < 4; m++) {
		char name[64];
		snprintf(name, sizeof name, "easel %s", modes[m]);
		f = filter_for(name, sock, modes[m], m == 3 ? bgpath : NULL);
		obs_source_filter_add(src, f);
		/* Until the mask shows (the background changes), at most about 30 s. */
		int waited = 0;
		for (; waited < 900; waited++) {
			wait_frames(1);
			uint8_t *now = snapshot();
			double d = box_diff(now, ref, BG_BOX) + box_diff(now, ref, BG_BOX2);
			free(now);
			if (d > 30)
				break;
		}
		wait_frames(30); /* let the temporal smoothing settle */
		uint8_t *px = snapshot();
		char extra[128];
		snprintf(extra, sizeof extra, "\"frames_until_mask\": %d", waited);
		save(out, modes[m], px, extra);
		free(px);
		if (m != 0) {
			obs_source_filter_remove(src, f);
			obs_source_release(f);
			f = NULL;
		} else {
			/* colour stays for the restart case */
			break;
		}
	}
	/* The other modes run after the restart case with fresh filters. */

	/* restart: the daemon killed mid-stream, then started again. */
	const char *kill_cmd = getenv("EASEL_KILL_CMD"), *start_cmd = getenv("EASEL_START_CMD");
	if (kill_cmd && start_cmd) {
		if (system(kill_cmd) != 0)
			fprintf(stderr, "kill command failed\n");
		uint64_t before = frame_count();
		int waited = 0;
		for (; waited < 900; waited++) {
			wait_frames(1);
			uint8_t *now = snapshot();
			double d = box_diff(now, ref, BG_BOX) + box_diff(now, ref, BG_BOX2);
			free(now);
			if (d < 8)
				break;
		}
		wait_frames(30);
		uint64_t during = frame_count() - before;
		uint8_t *px = snapshot();
		char extra[160];
		snprintf(extra, sizeof extra, "\"frames_while_down\": %llu, \"frames_until_pass\": %d",
			 (unsigned long long)during, waited);
		save(out, "down", px, extra);
		free(px);
		if (system(start_cmd) != 0)
			fprintf(stderr, "start command failed\n");
		for (waited = 0; waited < 900; waited++) {
			wait_frames(1);
			uint8_t *now = snapshot();
			double d = box_diff(now, ref, BG_BOX) + box_diff(now, ref, BG_BOX2);
			free(now);
			if (d > 30)
				break;
		}
		wait_frames(30);
		px = snapshot();
		snprintf(extra, sizeof extra, "\"frames_until_mask\": %d", waited);
		save(out, "back", px, extra);
		free(px);
	}
	obs_source_filter_remove(src, f);
	obs_source_release(f);
	for (int m = 1; m < 4; m++) {
		char name[64];
		snprintf(name, sizeof name, "easel %s", modes[m]);
		f = filter_for(name, sock, modes[m], m == 3 ? bgpath : NULL);
		obs_source_filter_add(src, f);
		wait_frames(10); /* the previous filter's frames are gone */
		int waited = 0;
		for (; waited < 900; waited++) {
			wait_frames(1);
			uint8_t *now = snapshot();
			bool changed = m == 2 ? box_grad(now, 400, 20, 630, 130) < 0.7 * box_grad(ref, 400, 20, 630, 130)
					      : box_diff(now, ref, BG_BOX) + box_diff(now, ref, BG_BOX2) > 30;
			free(now);
			if (changed)
				break;
		}
		wait_frames(30);
		uint8_t *px = snapshot();
		char extra[128];
		snprintf(extra, sizeof extra, "\"frames_until_mask\": %d", waited);
		save(out, modes[m], px, extra);
		free(px);
		obs_source_filter_remove(src, f);
		obs_source_release(f);
	}
	/* Fix low light on a dark frame and match look towards a tinted reference, each first
	 * without a daemon (the frame unchanged), then with it; check_frames.py compares means. */
	char dark[4096], look[4096];
	snprintf(dark, sizeof dark, "%s/dark.png", out);
	snprintf(look, sizeof look, "%s/look-reference.png", out);
	obs_data_t *ds = obs_data_create();
	obs_data_set_string(ds, "file", dark);
	obs_source_t *dsrc = obs_source_create("image_source", "dark frame", ds, NULL);
	obs_data_release(ds);
	struct {
		const char *name, *op, *sock;
		obs_source_t *src;
	} runs[] = {
		{"lowlight-pass", "fix-low-light", nosock, dsrc},
		{"lowlight", "fix-low-light", sock, dsrc},
		{"look-pass", "match-look", nosock, src},
		{"look", "match-look", sock, src},
	};
	uint8_t *dref = NULL;
	for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
		obs_set_output_source(0, runs[k].src);
		wait_frames(10);
		if (!dref && runs[k].src == dsrc) {
			wait_frames(10);
			dref = snapshot();
			save(out, "dark-source", dref, NULL);
		}
		const uint8_t *base = runs[k].src == dsrc ? dref : ref;
		obs_data_t *fs = obs_data_create();
		obs_data_set_string(fs, "socket", runs[k].sock);
		obs_data_set_string(fs, "operation", runs[k].op);
		obs_data_set_string(fs, "look_reference", look);
		f = obs_source_create("easel_filter", runs[k].name, fs, NULL);
		obs_data_release(fs);
		obs_source_filter_add(runs[k].src, f);
		int waited = 0;
		if (runs[k].sock == nosock) {
			wait_frames(30);
		} else {
			/* Until the picture changes, at most about 30 s. */
			for (; waited < 900; waited++) {
				wait_frames(1);
				uint8_t *now = snapshot();
				double d = box_diff(now, base, 0, 0, (int)W, (int)H);
				free(now);
				if (d > 8)
					break;
			}
			wait_frames(30);
		}
		uint8_t *px = snapshot();
		char extra[128];
		snprintf(extra, sizeof extra, "\"frames_until_change\": %d", waited);
		save(out, runs[k].name, px, extra);
		free(px);
		obs_source_filter_remove(runs[k].src, f);
		obs_source_release(f);
	}
	free(dref);
	obs_source_release(dsrc);
	free(ref);
	obs_set_output_source(0, NULL);
	obs_source_release(src);
	obs_remove_raw_video_callback(on_frame, NULL);
	/* libobs shutdown under Xvfb is not what is tested: leave at once. */
	_exit(0);
}

/* ------------------------------------------------------------------------------ bench */

struct motion {
	gs_image_file_t bg, person;
	obs_source_t *src;
	uint64_t t0;
	int phase;
};

static const char *motion_name(void *unused)
{
	(void)unused;
	return "Moving person (test)";
}

static char *bench_bg, *bench_person;
static int motion_count;

static void *motion_create(obs_data_t *settings, obs_source_t *source)
{
	(void)settings;
	struct motion *m = bzalloc(sizeof *m);
	m->src = source;
	m->phase = motion_count++;
	gs_image_file_init(&m->bg, bench_bg);
	gs_image_file_init(&m->person, bench_person);
	obs_enter_graphics();
	gs_image_file_init_texture(&m->bg);
	gs_image_file_init_texture(&m->person);
	obs_leave_graphics();
	m->t0 = os_gettime_ns();
	return m;
}

static void motion_destroy(void *data)
{
	struct motion *m = data;
	obs_enter_graphics();
	gs_image_file_free(&m->bg);
	gs_image_file_free(&m->person);
	obs_leave_graphics();
	bfree(m);
}

static uint32_t motion_w(void *d) { (void)d; return 1280; }
static uint32_t motion_h(void *d) { (void)d; return 720; }

/* The background photo, and the person cut out of a photo walking left and right (about one
 * pass in 4 s) and bobbing: a person in motion made from the fixture photos. */
static void motion_render(void *data, gs_effect_t *effect)
{
	struct motion *m = data;
	double t = (os_gettime_ns() - m->t0) / 1e9 + m->phase * 1.3;
	gs_effect_t *def = obs_get_base_effect(OBS_EFFECT_DEFAULT);
	(void)effect;
	gs_eparam_t *img = gs_effect_get_param_by_name(def, "image");
	gs_effect_set_texture(img, m->bg.texture);
	while (gs_effect_loop(def, "Draw"))
		gs_draw_sprite(m->bg.texture, 0, 1280, 720);
	gs_blend_state_push();
	gs_blend_function(GS_BLEND_SRCALPHA, GS_BLEND_INVSRCALPHA);
	float x = (float)(320.0 + 300.0 * sin(t * 1.57)), y = (float)(60.0 + 20.0 * sin(t * 5.0));
	gs_matrix_push();
	gs_matrix_translate3f(x, y, 0.0f);
	gs_effect_set_texture(img, m->person.texture);
	while (gs_effect_loop(def, "Draw"))
		gs_draw_sprite(m->person.texture, 0, 640, 660);
	gs_matrix_pop();
	gs_blend_state_pop();
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int bench(int argc, char **argv)
{
	if (argc < 11)
		return 2;
	const char *so = argv[2], *data = argv[3], *out = argv[6], *sock = argv[7], *mode = argv[8];
	bench_bg = argv[4];
	bench_person = argv[5];
	int n = atoi(argv[9]);
	double seconds = atof(argv[10]);
	if (!start(1280, 720, so, data))
		return 3;
	struct obs_source_info info = {0};
	info.id = "easel_test_motion";
	info.type = OBS_SOURCE_TYPE_INPUT;
	/* CUSTOM_DRAW: motion_render runs its own effect loops; without it OBS calls it inside the
	 * default effect's loop, gs_effect_loop refuses ("An effect is already active") and the
	 * source draws nothing: a black frame. */
	info.output_flags = OBS_SOURCE_VIDEO | OBS_SOURCE_CUSTOM_DRAW;
	info.get_name = motion_name;
	info.create = motion_create;
	info.destroy = motion_destroy;
	info.get_width = motion_w;
	info.get_height = motion_h;
	info.video_render = motion_render;
	obs_register_source(&info);
	obs_scene_t *scene = obs_scene_create("bench");
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "camera %d", i);
		obs_source_t *s = obs_source_create("easel_test_motion", name, NULL, NULL);
		if (strcmp(mode, "none") != 0) {
			obs_data_t *fs = obs_data_create();
			/* pass: the filter without a daemon (it renders the source into its texture and
			 * draws it unchanged: what any filter that samples its source does). */
			char nosock[4200];
			snprintf(nosock, sizeof nosock, "%s/no-daemon.sock", out);
			obs_data_set_string(fs, "socket", strcmp(mode, "pass") == 0 ? nosock : sock);
			obs_data_set_string(fs, "mode", "blur");
			obs_data_set_bool(fs, "sync", strcmp(mode, "sync") == 0);
			/* The benchmark's before/after: frames between staging and mapping the read-back. */
			const char *lag = getenv("EASEL_BENCH_READBACK_LAG");
			if (lag && *lag)
				obs_data_set_int(fs, "readback_lag", atoi(lag));
			const char *full = getenv("EASEL_BENCH_FULL_RES_BLUR");
			obs_data_set_bool(fs, "full_res_blur", full && strcmp(full, "1") == 0);
			snprintf(name, sizeof name, "easel %s %d", mode, i);
			obs_source_t *f = obs_source_create("easel_filter", name, fs, NULL);
			obs_data_release(fs);
			obs_source_filter_add(s, f);
			obs_source_release(f);
		}
		obs_sceneitem_t *item = obs_scene_add(scene, s);
		struct vec2 scale = {{{1.0f / n, 1.0f / n}}};
		struct vec2 pos = {{{(float)(1280 / n * i), 0.0f}}};
		obs_sceneitem_set_scale(item, &scale);
		obs_sceneitem_set_pos(item, &pos);
		obs_source_release(s);
	}
	obs_set_output_source(0, obs_scene_get_source(scene));
	wait_frames(90); /* warm up: the model loads, the streams start */
	video_t *v = obs_get_video();
	uint32_t skip0 = video_output_get_skipped_frames(v), lag0 = obs_get_lagged_frames();
	uint64_t f0 = frame_count(), t0 = os_gettime_ns();
	double c0 = cpu_seconds();
	uint64_t frame_time_sum = 0, samples = 0;
	while (os_gettime_ns() - t0 < (uint64_t)(seconds * 1e9)) {
		os_sleep_ms(100);
		frame_time_sum += obs_get_average_frame_time_ns();
		samples++;
	}
	double wall = (os_gettime_ns() - t0) / 1e9;
	uint64_t frames_out = frame_count() - f0;
	double cpu = cpu_seconds() - c0;
	char path[4096];
	snprintf(path, sizeof path, "%s/bench-%s-%d.json", out, mode, n);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f,
			"{\"mode\": \"%s\", \"sources\": %d, \"seconds\": %.2f, \"fps\": %.2f, "
			"\"skipped\": %u, \"lagged\": %u, \"avg_frame_time_ms\": %.2f, \"obs_cpu_cores\": %.3f}\n",
			mode, n, wall, frames_out / wall, video_output_get_skipped_frames(v) - skip0,
			obs_get_lagged_frames() - lag0, samples ? frame_time_sum / (double)samples / 1e6 : 0.0,
			cpu / wall);
		fclose(f);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "cases") == 0)
		return cases(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "bench") == 0)
		return bench(argc, argv);
	fprintf(stderr, "usage: frametest cases|bench ...\n");
	return 2;
}
