/*
 * floorfs: the floor under the bench's first-after-mount rows. A FUSE
 * server that does no work per request: it reads the whole tree into
 * memory before it mounts, then answers every request from there, with
 * the caching canonfs asks the kernel for (READDIRPLUS, no OPEN or
 * OPENDIR, long timeouts, negative entries) and the same thread pool.
 * What a first build through it costs over native is what the kernel and
 * the round trips cost, with nothing of canonfs's own. Read-only, host
 * metadata as it is, never refreshed: a measuring tool, not a file system
 * to use.
 *
 * Usage: floorfs TREE MOUNTPOINT [NAME] (foreground; TREE shows at
 * MOUNTPOINT/src, as canonfs shows it; with NAME, only TREE/NAME is
 * loaded and shown, at MOUNTPOINT/src/NAME). Unmount with fusermount3 -u.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As long as the kernel wants: nothing ever changes. */
#define FOREVER 86400.0

struct child {
	char *name;
	fuse_ino_t ino;
};

struct node {
	struct stat st;	    /* the host's, st_ino made the node's number */
	char *data;	    /* a file's contents, a symlink's target */
	size_t size;	    /* of data */
	struct child *kids; /* a directory's entries, sorted by name */
	size_t n_kids;
};

/* Node numbers are indices + 1: FUSE_ROOT_ID (1) is nodes[0]. */
static struct node *nodes;
static size_t n_nodes, nodes_cap;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static fuse_ino_t new_node(const struct stat *st)
{
	if (n_nodes == nodes_cap) {
		nodes_cap = nodes_cap ? 2 * nodes_cap : 4096;
		nodes = realloc(nodes, nodes_cap * sizeof(*nodes));
		if (!nodes)
			die("floorfs: realloc");
	}
	memset(&nodes[n_nodes], 0, sizeof(nodes[0]));
	nodes[n_nodes].st = *st;
	nodes[n_nodes].st.st_ino = n_nodes + 1;
	return ++n_nodes;
}

static struct node *node_of(fuse_ino_t ino)
{
	return &nodes[ino - 1];
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name,
		      ((const struct child *)b)->name);
}

static void *read_all(int fd, size_t size)
{
	char *data = malloc(size ? size : 1);
	size_t got = 0;

	if (!data)
		die("floorfs: malloc");
	while (got < size) {
		ssize_t n = pread(fd, data + got, size - got, (off_t)got);

		if (n <= 0)
			break; /* shrunk meanwhile: what was there */
		got += (size_t)n;
	}
	return data;
}

/* Load the entry `name` of the directory dir_fd (lstat'ed as st). */
static fuse_ino_t load(int dir_fd, const char *name, const struct stat *st);

static void load_dir(fuse_ino_t ino, int fd)
{
	DIR *dir = fdopendir(fd);
	struct dirent *d;
	struct child *kids = NULL;
	size_t n = 0, cap = 0;

	if (!dir)
		die("floorfs: fdopendir");
	while ((d = readdir(dir))) {
		struct stat st;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
		    fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ||
		      S_ISLNK(st.st_mode)))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			kids = realloc(kids, cap * sizeof(*kids));
			if (!kids)
				die("floorfs: realloc");
		}
		kids[n].name = strdup(d->d_name);
		if (!kids[n].name)
			die("floorfs: strdup");
		kids[n].ino = load(fd, d->d_name, &st);
		n++;
	}
	closedir(dir);
	if (n)
		qsort(kids, n, sizeof(*kids), by_name);
	node_of(ino)->kids = kids;
	node_of(ino)->n_kids = n;
}

static fuse_ino_t load(int dir_fd, const char *name, const struct stat *st)
{
	fuse_ino_t ino = new_node(st);
	int fd;

	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dir_fd, name, target, sizeof(target));

		if (n < 0)
			n = 0;
		node_of(ino)->data = strndup(target, (size_t)n);
		node_of(ino)->size = (size_t)n;
		return ino;
	}
	fd = openat(dir_fd, name,
		    (S_ISDIR(st->st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY) |
			    O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return ino; /* unreadable: shown, empty */
	if (S_ISDIR(st->st_mode)) {
		load_dir(ino, fd); /* closes fd */
		return ino;
	}
	node_of(ino)->data = read_all(fd, (size_t)st->st_size);
	node_of(ino)->size = (size_t)st->st_size;
	close(fd);
	return ino;
}

static void fill_entry(fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr = node_of(ino)->st;
	e->attr_timeout = FOREVER;
	e->entry_timeout = FOREVER;
}

static const struct child *find_child(const struct node *dir, const char *name)
{
	struct child key = {.name = (char *)name};

	if (!dir->n_kids)
		return NULL;
	return bsearch(&key, dir->kids, dir->n_kids, sizeof(key), by_name);
}

static void fl_init(void *data, struct fuse_conn_info *conn)
{
	(void)data;
	/* As canonfs: attributes with every listing, the kernel's caches
	 * trusted, no writeback cache. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_AUTO_INVAL_DATA |
			FUSE_CAP_WRITEBACK_CACHE);
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct child *c = find_child(node_of(parent), name);
	struct fuse_entry_param e;

	if (!c) { /* a negative entry the kernel keeps */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = FOREVER;
		fuse_reply_entry(req, &e);
		return;
	}
	fill_entry(c->ino, &e);
	fuse_reply_entry(req, &e);
}

static void fl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req); /* nodes live as long as the mount */
}

static void fl_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)fi;
	fuse_reply_attr(req, &node_of(ino)->st, FOREVER);
}

static void fl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	fuse_reply_readlink(req, node_of(ino)->data ? node_of(ino)->data : "");
}

/* ENOSYS: the kernel sends no more OPEN, OPENDIR, RELEASE or RELEASEDIR,
 * and keeps pages and listings, as with canonfs. */
static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	const struct node *n = node_of(ino);
	size_t start = off < 0 ? 0 : (size_t)off;

	(void)fi;
	if (start >= n->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	fuse_reply_buf(req, n->data + start,
		       n->size - start < size ? n->size - start : size);
}

/* Offsets: the position after an entry, "." and ".." at 0 and 1. */
static void fl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	const struct node *dir = node_of(ino);
	size_t total = dir->n_kids + 2, used = 0;
	char *buf = malloc(size);

	(void)fi;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t pos = off < 0 ? 0 : (size_t)off; pos < total; pos++) {
		struct fuse_entry_param e;
		const char *name;
		size_t len;

		if (pos < 2) { /* no attributes: the kernel skips them */
			memset(&e, 0, sizeof(e));
			e.attr.st_mode = S_IFDIR;
			e.attr.st_ino = pos ? FUSE_ROOT_ID : ino; /* not 0 */
			name = pos ? ".." : ".";
		} else {
			fill_entry(dir->kids[pos - 2].ino, &e);
			name = dir->kids[pos - 2].name;
		}
		len = fuse_add_direntry_plus(req, buf + used, size - used, name,
					     &e, (off_t)(pos + 1));
		if (len > size - used)
			break; /* did not fit: the kernel never saw it */
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static const struct fuse_lowlevel_ops ops = {
	.init = fl_init,
	.lookup = fl_lookup,
	.forget = fl_forget,
	.forget_multi = fl_forget_multi,
	.getattr = fl_getattr,
	.readlink = fl_readlink,
	.open = fl_open,
	.read = fl_read,
	.opendir = fl_open,
	.readdirplus = fl_readdirplus,
};

int main(int argc, char **argv)
{
	char *fuse_argv[] = {argv[0], "-o", "fsname=floorfs", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	struct fuse_loop_config *config;
	struct fuse_session *se;
	struct stat st;
	fuse_ino_t root, top;
	int fd, rc;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: floorfs TREE MOUNTPOINT [NAME]\n");
		return 2;
	}
	if (stat(argv[1], &st) == -1 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "floorfs: %s is not a directory\n", argv[1]);
		return 2;
	}
	/* The root: a directory holding one entry, src, the tree. */
	root = new_node(&st);
	node_of(root)->kids = malloc(sizeof(struct child));
	if (!node_of(root)->kids)
		die("floorfs: malloc");
	top = new_node(&st);
	node_of(root)->kids[0].name = "src";
	node_of(root)->kids[0].ino = top;
	node_of(root)->n_kids = 1;
	fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		die("floorfs: open");
	if (argc == 4) { /* src holds NAME alone */
		/* Indices, not pointers: loading moves the node array. */
		fuse_ino_t src = node_of(root)->kids[0].ino, name;
		struct child *kids = malloc(sizeof(*kids));
		struct stat sub;

		if (fstatat(fd, argv[3], &sub, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(sub.st_mode)) {
			fprintf(stderr, "floorfs: %s/%s is not a directory\n",
				argv[1], argv[3]);
			return 2;
		}
		if (!kids)
			die("floorfs: malloc");
		name = load(fd, argv[3], &sub);
		kids[0] = (struct child){.name = argv[3], .ino = name};
		node_of(src)->kids = kids;
		node_of(src)->n_kids = 1;
		close(fd);
	} else {
		load_dir(node_of(root)->kids[0].ino, fd);
	}

	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_set_signal_handlers(se) ||
	    fuse_session_mount(se, argv[2])) {
		fprintf(stderr, "floorfs: cannot mount at %s\n", argv[2]);
		return 1;
	}
	/* canonfs's pool (daemon.c serve()). */
	config = fuse_loop_cfg_create();
	if (!config)
		die("floorfs: fuse_loop_cfg_create");
	fuse_loop_cfg_set_clone_fd(config, 0);
	fuse_loop_cfg_set_idle_threads(config, 8);
	fuse_loop_cfg_set_max_threads(config, 32);
	rc = fuse_session_loop_mt(se, config);
	fuse_loop_cfg_destroy(config);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc ? 1 : 0;
}
