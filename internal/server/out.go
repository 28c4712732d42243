package server

import (
	"net"
	"sync/atomic"
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
	// sending, when set, is odd while a write to conn is under way, so
	// that a write the client does not take can be found and cut.
	sending *atomic.Uint64
}

// directWrite is the size from which a write skips the buffer.
const directWrite = 4 << 10

func newOutBuffer(size int) *outBuffer { return &outBuffer{buf: make([]byte, 0, size)} }

// Reset makes o write to conn, with nothing buffered; sending, if not
// nil, counts its writes.
func (o *outBuffer) Reset(conn net.Conn, sending *atomic.Uint64) {
	o.conn, o.buf, o.err, o.sending = conn, o.buf[:0], nil, sending
}

// begin and end bracket a write to conn.
func (o *outBuffer) begin() {
	if o.sending != nil {
		o.sending.Add(1)
	}
}

func (o *outBuffer) end() {
	if o.sending != nil {
		o.sending.Add(1)
	}
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

// writeField buffers the field line "name: value" with one check for
// room rather than four.
func (o *outBuffer) writeField(name, value string) {
	if o.err != nil || len(name)+len(value)+4 > cap(o.buf)-len(o.buf) {
		o.WriteString(name)
		o.WriteString(": ")
		o.WriteString(value)
		o.WriteString("\r\n")
		return
	}
	o.buf = append(o.buf, name...)
	o.buf = append(o.buf, ": "...)
	o.buf = append(o.buf, value...)
	o.buf = append(o.buf, "\r\n"...)
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
	o.begin()
	n, err := o.bufs.WriteTo(o.conn)
	o.end()
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
	o.begin()
	n, err := o.conn.Write(p)
	o.end()
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
	o.begin()
	_, err := o.conn.Write(o.buf)
	o.end()
	if err != nil {
		o.err = err
		return err
	}
	o.buf = o.buf[:0]
	return nil
}
