/*
 * mounts: the mount table (see include/canonfs/mounts.h).
 */
#include "canonfs/mounts.h"

#include "canonfs/control.h"
#include "canonfs/path.h"
#include "canonfs/text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* Undo the octal escapes of /proc/self/mountinfo ("\040" is a space). */
static void unescape_mount_path(char *path)
{
	char *out = path;

	for (char *in = path; *in; in++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' &&
		    in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
		    in[3] <= '7') {
			*out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 +
					(in[3] - '0'));
			in += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/*
 * Split a mountinfo line in place: "id parent major:minor root MOUNTPOINT
 * options [optional fields...] - FSTYPE SOURCE superoptions". Returns
 * whether the fields were found (escapes left in them).
 */
static bool split_mountinfo(char *line, char **mount_path, char **fstype,
			    char **source)
{
	char *save = NULL, *field;
	int n = 0;

	*mount_path = *fstype = *source = NULL;
	for (field = strtok_r(line, " \n", &save); field;
	     field = strtok_r(NULL, " \n", &save), n++) {
		if (n == 4)
			*mount_path = field;
		if (n > 5 && strcmp(field, "-") == 0) {
			*fstype = strtok_r(NULL, " \n", &save);
			*source = *fstype ? strtok_r(NULL, " \n", &save) : NULL;
			break;
		}
	}
	return *mount_path && *fstype && *source;
}

/* Whether match() holds for a mount of /proc/self/mountinfo, given its
 * mount point, type and source, unescaped. */
static bool mountinfo_any(bool (*match)(const char *mount_path,
					const char *fstype, const char *source,
					void *arg),
			  void *arg)
{
	char line[4 * PATH_MAX], *mount_path, *fstype, *source;
	bool found = false;
	FILE *mountinfo = fopen("/proc/self/mountinfo", "re");

	if (!mountinfo)
		return false;
	while (!found && fgets(line, sizeof(line), mountinfo)) {
		if (!split_mountinfo(line, &mount_path, &fstype, &source))
			continue;
		unescape_mount_path(mount_path);
		unescape_mount_path(source);
		found = match(mount_path, fstype, source, arg);
	}
	fclose(mountinfo);
	return found;
}

static bool is_at(const char *mount_path, const char *fstype,
		  const char *source, void *resolved)
{
	(void)fstype;
	(void)source;
	return strcmp(mount_path, resolved) == 0;
}

bool mounts_is_mount_point(const char *resolved)
{
	return mountinfo_any(is_at, (void *)resolved);
}

struct source_query {
	const char *fstype, *source, *except;
	char *found;
	size_t found_size;
};

static bool is_other_mount_of(const char *mount_path, const char *fstype,
			      const char *source, void *arg)
{
	struct source_query *q = arg;

	if (strcmp(fstype, q->fstype) != 0 || strcmp(source, q->source) != 0 ||
	    (q->except && strcmp(mount_path, q->except) == 0))
		return false;
	snprintf(q->found, q->found_size, "%s", mount_path);
	return true;
}

bool mounts_find_source(const char *fstype, const char *source,
			const char *except, char *found, size_t found_size)
{
	struct source_query q = {fstype, source, except, found, found_size};

	return mountinfo_any(is_other_mount_of, &q);
}

bool mounts_is_stale(const char *mountpoint)
{
	struct statfs st;

	return statfs(mountpoint, &st) == -1 && errno == ENOTCONN;
}

int mounts_unmount(const char *mountpoint, bool lazy)
{
	pid_t pid;
	int status;

	if (umount2(mountpoint, lazy ? MNT_DETACH : 0) == 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u",
		       mountpoint, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int mounts_resolve(const char *mountpoint, char *out, size_t out_size)
{
	char parent[PATH_MAX], name[PATH_MAX], abs_path[PATH_MAX];
	const char *slash;

	if (realpath(mountpoint, out))
		return 0;
	if (mountpoint[0] != '/') {
		if (!getcwd(parent, sizeof(parent)) ||
		    path_join_clean(parent, mountpoint, abs_path,
				    sizeof(abs_path)))
			return -1;
	} else if (path_clean(mountpoint, abs_path, sizeof(abs_path))) {
		return -1;
	}
	slash = strrchr(abs_path, '/');
	snprintf(name, sizeof(name), "%s", slash + 1);
	if (path_dirname(abs_path, parent, sizeof(parent)) ||
	    !realpath(parent, abs_path) ||
	    path_join_clean(abs_path, name, out, out_size))
		return -1;
	return 0;
}

/* Whether /proc/PID/<link> names a place at or under mount_path. */
static bool link_under(const char *pid, const char *link,
		       const char *mount_path)
{
	char proc[64 + NAME_MAX], target[PATH_MAX];
	ssize_t len;

	snprintf(proc, sizeof(proc), "/proc/%s/%s", pid, link);
	len = readlink(proc, target, sizeof(target) - 1);
	if (len <= 0)
		return false;
	target[len] = '\0';
	return path_under(target, mount_path) != NULL;
}

/* Whether process pid works in, is rooted in, or has a file open under
 * mount_path. */
static bool process_holds(const char *pid, const char *mount_path)
{
	char fd_dir[16 + NAME_MAX];
	struct dirent *entry;
	bool holds;
	DIR *fds;

	if (link_under(pid, "cwd", mount_path) ||
	    link_under(pid, "root", mount_path))
		return true;
	snprintf(fd_dir, sizeof(fd_dir), "/proc/%s/fd", pid);
	if (!(fds = opendir(fd_dir)))
		return false;
	holds = false;
	while (!holds && (entry = readdir(fds))) {
		char link[32 + NAME_MAX];

		snprintf(link, sizeof(link), "fd/%s", entry->d_name);
		holds = entry->d_name[0] != '.' &&
			link_under(pid, link, mount_path);
	}
	closedir(fds);
	return holds;
}

/* "pid N (comm)" added to t. */
static void add_process(struct text *t, const char *pid)
{
	char path[16 + NAME_MAX], comm[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	if ((f = fopen(path, "re"))) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	comm[strcspn(comm, "\n")] = '\0';
	text_add(t, "%spid %s (%s)", t->len ? ", " : "", pid, comm);
}

char *mounts_holders(const char *mountpoint)
{
	char mount_path[PATH_MAX], self[32];
	struct text t = {0};
	struct dirent *entry;
	int shown = 0, more = 0;
	DIR *proc;

	if (mounts_resolve(mountpoint, mount_path, sizeof(mount_path)) ||
	    !(proc = opendir("/proc")))
		return NULL;
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while ((entry = readdir(proc))) {
		if (entry->d_name[0] < '1' || entry->d_name[0] > '9' ||
		    strcmp(entry->d_name, self) == 0 ||
		    !process_holds(entry->d_name, mount_path))
			continue;
		if (shown++ < MOUNTS_HOLDERS_SHOWN)
			add_process(&t, entry->d_name);
		else
			more++;
	}
	closedir(proc);
	if (more)
		text_add(&t, " and %d more", more);
	return text_take(&t);
}

char *mounts_unmount_advice(const char *mountpoint)
{
	char *holders = mounts_holders(mountpoint);
	struct text t = {0};

	text_add(&t, "fusermount3 -u %s", mountpoint);
	if (holders)
		text_add(&t,
			 ", once nothing uses it: cd out of it or end %s; "
			 "fuser -vm %s lists every user",
			 holders, mountpoint);
	free(holders);
	return text_take(&t);
}

bool mounts_open_stats(const char *mountpoint)
{
	char stats[PATH_MAX];
	int n = snprintf(stats, sizeof(stats), "%s/%s/%s", mountpoint,
			 CONTROL_DIR_NAME, control_name(CONTROL_STATS));
	int fd = n > 0 && n < (int)sizeof(stats)
			 ? open(stats, O_RDONLY | O_CLOEXEC)
			 : -1;

	if (fd < 0)
		return false;
	close(fd);
	return true;
}
