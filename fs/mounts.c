/*
 * mounts: the mount table (see include/canonfs/mounts.h).
 */
#include "canonfs/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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
