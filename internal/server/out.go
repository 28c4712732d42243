package server

import (
	"net"
)

// outBuffer is a connection's write buffer. Unlike bufio.Writer it sends a
// large write together with what is buffered in one writev, so a response
// body is not copied in behind its head.
type outBuffer struct {
	conn net.Conn
	buf  []byte // len is what is buffered
	err  error
	// vec is reused for each vectored write, which would otherwise
	// allocate.
	vec  [2][]byte
	bufs net.Buffers
}

// directWrite is the size from which a write skips the buffer.
const directWrite = 4 << 10

func newOutBuffer(size int) *outBuffer { return &outBuffer{buf: make([]byte, 0, size)} }

// Reset makes o write to conn, with nothing buffered.
func (o *outBuffer) Reset(conn net.Conn) {
	o.conn, o.buf, o.err = conn, o.buf[:0], nil
}

// Buffered is how many bytes wait for a flush.
func (o *outBuffer) Buffered() int { return len(o.buf) }

func (o *outBuffer) WriteString(s string) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if len(s) > cap(o.buf)-len(o.buf) {
		if o.Flush() != nil {
			return 0, o.err
		}
		if len(s) > cap(o.buf) {
			return o.write([]byte(s))
		}
	}
	o.buf = append(o.buf, s...)
	return len(s), nil
}

func (o *outBuffer) WriteByte(c byte) error {
	if o.err != nil {
		return o.err
	}
	if len(o.buf) == cap(o.buf) && o.Flush() != nil {
		return o.err
	}
	o.buf = append(o.buf, c)
	return nil
}

// Write buffers p, or, from directWrite bytes on, sends what is buffered
// and p at once without copying p.
func (o *outBuffer) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if len(p) < directWrite && len(p) <= cap(o.buf)-len(o.buf) {
		o.buf = append(o.buf, p...)
		return len(p), nil
	}
	if len(p) < directWrite {
		if o.Flush() != nil {
			return 0, o.err
		}
		o.buf = append(o.buf, p...)
		return len(p), nil
	}
	if len(o.buf) == 0 {
		return o.write(p)
	}
	o.vec = [2][]byte{o.buf, p}
	o.bufs = o.vec[:]
	n, err := o.bufs.WriteTo(o.conn)
	o.vec = [2][]byte{}
	if err != nil {
		o.err = err
		return max(0, int(n)-len(o.buf)), err
	}
	o.buf = o.buf[:0]
	return len(p), nil
}

// write sends p past the buffer, which is empty.
func (o *outBuffer) write(p []byte) (int, error) {
	n, err := o.conn.Write(p)
	if err != nil {
		o.err = err
	}
	return n, err
}

// Flush sends what is buffered.
func (o *outBuffer) Flush() error {
	if o.err != nil {
		return o.err
	}
	if len(o.buf) == 0 {
		return nil
	}
	if _, err := o.conn.Write(o.buf); err != nil {
		o.err = err
		return err
	}
	o.buf = o.buf[:0]
	return nil
}
