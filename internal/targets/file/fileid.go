package file

import (
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
)

// String is the device and inode as saved in the positions file.
func (id fileID) String() string {
	return strconv.FormatUint(id.dev, 16) + ":" + strconv.FormatUint(id.ino, 16)
}

// headBytes is how much of a file's start its fingerprint covers.
const headBytes = 256

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// identity is what the positions file records beside a file's offset (see
// positions.IdentityKey): its device and inode, and a checksum of its first
// bytes. The inode alone is not enough: a file system hands a deleted file's
// inode to the next new file at once, and taking that file for the old one
// would skip its first lines.
type identity struct {
	id   string
	head int // bytes the checksum covers
	sum  uint32
}

func identityOf(id fileID, f *os.File) identity {
	buf := make([]byte, headBytes)
	n, _ := f.ReadAt(buf, 0)
	return identity{id: id.String(), head: n, sum: crc32.Checksum(buf[:n], castagnoli)}
}

func (i identity) String() string {
	return fmt.Sprintf("%s/%d:%08x", i.id, i.head, i.sum)
}

func parseIdentity(s string) (identity, bool) {
	id, fp, ok := strings.Cut(s, "/")
	if !ok {
		return identity{}, false
	}
	head, sum, ok := strings.Cut(fp, ":")
	if !ok {
		return identity{}, false
	}
	n, err1 := strconv.Atoi(head)
	c, err2 := strconv.ParseUint(sum, 16, 32)
	if err1 != nil || err2 != nil || n < 0 || n > headBytes {
		return identity{}, false
	}
	return identity{id: id, head: n, sum: uint32(c)}, true
}

// vouchesFor reports whether the saved identity i is that of the file now
// known as cur, for resuming at offset: same device and inode, same first
// bytes, and an offset the checksum covers unless it covers a full head.
func (i identity) vouchesFor(cur identity, f *os.File, offset int64) bool {
	if i.id != cur.id || (i.head < headBytes && offset > int64(i.head)) {
		return false
	}
	buf := make([]byte, i.head)
	if n, _ := f.ReadAt(buf, 0); n != i.head {
		return false
	}
	return crc32.Checksum(buf, castagnoli) == i.sum
}
