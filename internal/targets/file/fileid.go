package file

import "strconv"

// String is how a file's identity is saved in the positions file, beside its
// offset (see positions.IdentityKey).
func (id fileID) String() string {
	return strconv.FormatUint(id.dev, 16) + ":" + strconv.FormatUint(id.ino, 16)
}
