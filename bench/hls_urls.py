#!/usr/bin/env python3
"""What a player reads from a master playlist, for bench/load.sh.

    hls_urls.py keys MASTER_URL        the distinct key URIs of its first rendition, in order
    hls_urls.py segment MASTER_URL N   the segment URL (of any rendition) whose size is
                                       nearest N bytes, then its size, tab-separated

URLs come from the playlists themselves (relative ones resolved against the
playlist's own URL), so a signed path prefix or another layout keeps working.
Standard library only.
"""

import re
import sys
import urllib.parse
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def lines(url):
    return [l.strip() for l in get(url).decode().splitlines() if l.strip()]


def variants(master_url):
    """The rendition playlists of a master playlist, lowest bandwidth first."""
    found, bandwidth = [], None
    for line in lines(master_url):
        if line.startswith("#EXT-X-STREAM-INF:"):
            m = re.search(r"BANDWIDTH=(\d+)", line)
            bandwidth = int(m.group(1)) if m else 0
        elif not line.startswith("#") and bandwidth is not None:
            found.append((bandwidth, urllib.parse.urljoin(master_url, line)))
            bandwidth = None
    if not found:
        sys.exit(f"hls_urls.py: no rendition in {master_url}")
    return [u for _, u in sorted(found)]


def keys(playlist_url):
    out = []
    for line in lines(playlist_url):
        if line.startswith("#EXT-X-KEY:"):
            m = re.search(r'URI="([^"]+)"', line)
            if m:
                uri = urllib.parse.urljoin(playlist_url, m.group(1))
                if uri not in out:
                    out.append(uri)
    return out


def segments(playlist_url):
    return [urllib.parse.urljoin(playlist_url, l) for l in lines(playlist_url) if not l.startswith("#")]


def main():
    what, master = sys.argv[1], sys.argv[2]
    renditions = variants(master)
    if what == "keys":
        for uri in keys(renditions[0]):
            print(uri)
    elif what == "segment":
        want = int(sys.argv[3])
        best = None
        for playlist in renditions:
            # The first segment may be short (encoder priming); look at a few.
            for url in segments(playlist)[1:4]:
                size = len(get(url))
                if best is None or abs(size - want) < abs(best[1] - want):
                    best = (url, size)
        if best is None:
            sys.exit(f"hls_urls.py: no segment under {master}")
        print(f"{best[0]}\t{best[1]}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
