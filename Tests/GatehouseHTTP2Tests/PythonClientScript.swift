// The Python HTTP/2 client used by HostileClientTests: a raw-frame client (hpack from the `h2`
// package) that can send what well-behaved libraries refuse to. Run as `python3 -c <script> <scenario> <port>`;
// it prints one JSON object. Every scenario is bounded (socket timeouts, and SIGALRM after 40 s).
let pythonClientScript = #"""
    import json, signal, socket, struct, sys, time
    from hpack import Encoder, Decoder

    signal.alarm(40)
    PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
    DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WU, CONT = range(10)

    def frame(t, fl, sid, payload=b''):
        return struct.pack('>I', len(payload))[1:] + bytes([t, fl]) + struct.pack('>I', sid) + payload

    def pattern(offset, n):
        return bytes((offset + i) % 251 for i in range(n))

    class Conn:
        def __init__(self, port, ack_settings=True, window=1 << 24, stream_window=1 << 24):
            self.s = socket.create_connection(('127.0.0.1', port), timeout=5)
            self.enc, self.dec = Encoder(), Decoder()
            self.dec.max_header_list_size = 1 << 22
            self.buf = b''
            self.ack_settings = ack_settings
            self.conn_window, self.peer_initial, self.windows = 65535, 65535, {}
            self.goaway, self.resets, self.responses = None, {}, {}
            self.closed, self.stalled = False, set()
            self.sent = {}
            self.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack('>HI', 4, stream_window))
                      + frame(WU, 0, 0, struct.pack('>I', window - 65535)))

        def send(self, data):
            try:
                self.s.sendall(data)
                return True
            except OSError:
                self.closed = True
                return False

        def read_frame(self, timeout=5):
            self.s.settimeout(timeout)
            while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], 'big'):
                try:
                    d = self.s.recv(1 << 20)
                except socket.timeout:
                    return 'timeout'
                except OSError:
                    d = b''
                if not d:
                    self.closed = True
                    return None
                self.buf += d
            n = int.from_bytes(self.buf[:3], 'big')
            t, fl = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], 'big') & 0x7fffffff
            p = self.buf[9:9 + n]
            self.buf = self.buf[9 + n:]
            self.handle(t, fl, sid, p)
            return (t, fl, sid, p)

        def resp(self, sid):
            return self.responses.setdefault(sid, {'status': None, 'info': [], 'headers': {}, 'body': bytearray(), 'ended': False})

        def handle(self, t, fl, sid, p):
            if t == SETTINGS and not fl & 1:
                for i in range(0, len(p), 6):
                    k, v = struct.unpack('>HI', p[i:i + 6])
                    if k == 4:
                        delta = v - self.peer_initial
                        self.peer_initial = v
                        for s in self.windows:
                            self.windows[s] += delta
                if self.ack_settings:
                    self.send(frame(SETTINGS, 1, 0))
            elif t == PING and not fl & 1:
                self.send(frame(PING, 1, 0, p))
            elif t == GOAWAY:
                last, code = struct.unpack('>II', p[:8])
                self.goaway = (last & 0x7fffffff, code)
            elif t == RST:
                self.resets[sid] = struct.unpack('>I', p)[0]
            elif t == WU:
                inc = struct.unpack('>I', p)[0] & 0x7fffffff
                if sid == 0:
                    self.conn_window += inc
                else:
                    self.windows[sid] = self.windows.get(sid, self.peer_initial) + inc
            elif t == HEADERS:
                hdrs = dict(self.dec.decode(p))
                r = self.resp(sid)
                status = hdrs.get(':status')
                if status and status.startswith('1'):
                    r['info'].append(int(status))
                elif status:
                    r['status'] = int(status)
                    r['headers'] = hdrs
                else:
                    r['trailers'] = hdrs
                if fl & 1:
                    r['ended'] = True
            elif t == DATA:
                r = self.resp(sid)
                r['body'] += p
                if fl & 1:
                    r['ended'] = True
                if p:
                    out = frame(WU, 0, 0, struct.pack('>I', len(p)))
                    if not r['ended'] and sid not in self.stalled:
                        out += frame(WU, 0, sid, struct.pack('>I', len(p)))
                    self.send(out)

        def request(self, sid, headers, end=True):
            self.windows[sid] = self.peer_initial
            block = self.enc.encode(headers)
            first, rest = block[:16384], block[16384:]
            flags = (1 if end else 0) | (4 if not rest else 0)
            out = frame(HEADERS, flags, sid, first)
            while rest:
                chunk, rest = rest[:16384], rest[16384:]
                out += frame(CONT, 0 if rest else 4, sid, chunk)
            return self.send(out)

        def get(self, sid, path, extra=(), method='GET', end=True):
            return self.request(sid, [(':method', method), (':scheme', 'http'), (':authority', '127.0.0.1'), (':path', path)] + list(extra), end)

        def upload(self, sid, data, end=True, deadline=8):
            """Sends DATA within the flow-control windows, reading frames (WINDOW_UPDATE) when blocked."""
            off, stop = 0, time.time() + deadline
            while True:
                if sid in self.resets:
                    return 'reset'
                remaining = len(data) - off
                n = min(self.conn_window, self.windows.get(sid, self.peer_initial), 16384, remaining)
                if remaining > 0 and n <= 0:
                    if time.time() > stop:
                        return 'stalled'
                    if self.read_frame(timeout=max(0.1, stop - time.time())) is None:
                        return 'closed'
                    continue
                last = off + n == len(data)
                if not self.send(frame(DATA, 1 if (end and last) else 0, sid, data[off:off + n])):
                    return 'closed'
                self.conn_window -= n
                self.windows[sid] = self.windows.get(sid, self.peer_initial) - n
                self.sent[sid] = self.sent.get(sid, 0) + n
                off += n
                if last:
                    return 'ok'

        def post_at_once(self, sid, path, extra, body):
            """HEADERS and the whole body in one write, so the server sees them in one read."""
            if not self.wait(lambda: self.conn_window >= len(body), 8):
                return 'stalled'
            self.windows[sid] = self.peer_initial
            out = frame(HEADERS, 4, sid, self.enc.encode([(':method', 'POST'), (':scheme', 'http'),
                                                          (':authority', '127.0.0.1'), (':path', path)] + list(extra)))
            for off in range(0, len(body), 16384):
                chunk = body[off:off + 16384]
                out += frame(DATA, 1 if off + 16384 >= len(body) else 0, sid, chunk)
            self.conn_window -= len(body)
            self.windows[sid] -= len(body)
            return 'ok' if self.send(out) else 'closed'

        def wait(self, pred, timeout=10):
            stop = time.time() + timeout
            while not pred():
                if time.time() > stop:
                    return False
                f = self.read_frame(timeout=max(0.05, stop - time.time()))
                if f is None:
                    return pred()
            return True

        def wait_closed(self, timeout=5):
            return self.wait(lambda: self.closed, timeout)

        def done(self, sid):
            return lambda: self.responses.get(sid, {}).get('ended') or sid in self.resets
    BASE = [(':method', 'GET'), (':scheme', 'http'), (':authority', '127.0.0.1'), (':path', '/headers')]

    def replace(headers, name, value):
        return [(n, value if n == name else v) for n, v in headers]

    def scenario_invalid(port):
        c = Conn(port)
        cases = {
            'missing_path': [h for h in BASE if h[0] != ':path'],
            'missing_method': [h for h in BASE if h[0] != ':method'],
            'duplicate_method': [(':method', 'GET')] + BASE,
            'duplicate_path': BASE + [(':path', '/x')],
            'unknown_pseudo': BASE + [(':foo', 'bar')],
            'pseudo_after_regular': [BASE[0], BASE[1], ('x-a', '1'), BASE[2], BASE[3]],
            'uppercase_name': BASE + [('X-Upper', '1')],
            'connection': BASE + [('connection', 'keep-alive')],
            'keep_alive': BASE + [('keep-alive', '5')],
            'proxy_connection': BASE + [('proxy-connection', 'close')],
            'transfer_encoding': BASE + [('transfer-encoding', 'chunked')],
            'upgrade': BASE + [('upgrade', 'websocket')],
            'te_gzip': BASE + [('te', 'gzip')],
            'relative_path': replace(BASE, ':path', 'headers'),
            'empty_path': replace(BASE, ':path', ''),
            'asterisk_get': replace(BASE, ':path', '*'),
            'host_mismatch': BASE + [('host', 'other.example')],
            'two_hosts': [h for h in BASE if h[0] != ':authority'] + [('host', 'a.example'), ('host', 'b.example')],
            'space_in_name': BASE + [('x y', '1')],
            'newline_in_value': BASE + [('x-a', 'a\r\nb')],
        }
        result, sid = {}, 1
        sids = {}
        for name, headers in cases.items():
            c.request(sid, headers)
            sids[name] = sid
            sid += 2
        valid = {
            'valid_get': BASE + [('cookie', 'a=1'), ('user-agent', 't'), ('cookie', 'b=2')],
            'options_asterisk': [(':method', 'OPTIONS'), (':scheme', 'http'), (':authority', '127.0.0.1'), (':path', '*')],
            'host_only': [h for h in BASE if h[0] != ':authority'] + [('host', 'mail.contoso.com')],
            'host_same': BASE + [('host', '127.0.0.1')],
            'te_trailers': BASE + [('te', 'trailers')],
        }
        # CONNECT is well-formed but not proxied: REFUSED_STREAM.
        c.request(sid, [(':method', 'CONNECT'), (':authority', 'backend.contoso.com:443')])
        sids['connect'] = sid
        sid += 2
        for name, headers in valid.items():
            c.request(sid, headers)
            sids[name] = sid
            sid += 2
        c.wait(lambda: all(c.done(s)() for s in sids.values()), 10)
        for name, s in sids.items():
            r = c.responses.get(s, {})
            result[name] = {'reset': c.resets.get(s), 'status': r.get('status'), 'body': bytes(r.get('body', b'')).decode('latin1')}
        result['goaway'] = c.goaway
        return result

    def scenario_ntlm(port):
        c = Conn(port)
        auths = {'ntlm': 'NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==',
                 'negotiate': 'Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3',
                 'ntlm_lower': 'ntlm TlRMTVNTUAAB', 'basic': 'Basic dXNlcjpwYXNz', 'bearer': 'Bearer abc'}
        sids, sid = {}, 1
        for name, value in auths.items():
            c.get(sid, '/headers', [('authorization', value)])
            sids[name] = sid
            sid += 2
        # An NTLM POST with a body: refused, and its body must not leak the connection window.
        c.get(sid, '/echo', [('authorization', auths['ntlm'])], method='POST', end=False)
        sids['ntlm_post'] = sid
        body_state = c.upload(sid, b'x' * 200000)
        sid += 2
        c.get(sid, '/echo', method='POST', end=False)
        sids['echo_after'] = sid
        up = c.upload(sid, pattern(0, 300000))
        c.wait(lambda: all(c.done(s)() for s in sids.values()), 10)
        result = {name: {'reset': c.resets.get(s), 'status': c.responses.get(s, {}).get('status'),
                         'body': bytes(c.responses.get(s, {}).get('body', b'')).decode('latin1')} for name, s in sids.items()}
        result['upload'] = up
        result['goaway'] = c.goaway
        return result

    def scenario_responses(port):
        """100 Continue before the final response; trailers after the body; a response's
        connection-specific headers removed."""
        c = Conn(port)
        c.get(1, '/continue', [('expect', '100-continue')], method='POST', end=False)
        c.wait(lambda: 1 in c.responses, 5)
        info_before_body = c.responses.get(1, {}).get('info')
        c.upload(1, b'hello')
        c.get(3, '/trailers')
        c.get(5, '/bytes?n=5')
        # A request with a body and trailers; then one whose trailers exceed the header-list limit.
        c.get(7, '/echo', method='POST', end=False)
        c.upload(7, b'abc', end=False)
        c.request(7, [('x-request-checksum', '42')], end=True)
        c.get(9, '/echo', method='POST', end=False)
        c.upload(9, b'abc', end=False)
        c.request(9, [('x-big-%d' % i, 'a' * 60000) for i in range(5)], end=True)
        c.wait(lambda: all(c.done(s)() for s in (1, 3, 5, 7, 9)), 5)
        r = c.responses
        return {'continue': {'info': r[1]['info'], 'info_first': info_before_body, 'status': r[1]['status'], 'body': r[1]['body'].decode()},
                'trailers': {'status': r[3]['status'], 'body': r[3]['body'].decode(), 'trailers': r[3].get('trailers')},
                'headers': r[5]['headers'], 'echo_trailers': r.get(7, {}).get('body', b'').decode(),
                'big_trailers_reset': c.resets.get(9), 'goaway': c.goaway}

    def scenario_leak(port):
        """Sends far more body bytes than the connection window on streams whose bodies nobody
        consumes (client-reset, answered early, proxy-reset, NTLM, malformed); then a large upload
        on the same connection must still complete."""
        c = Conn(port)
        c.wait(lambda: c.peer_initial != 65535, 5)
        log, sid = [], 1
        body = b'z' * 200000
        for i in range(4):
            c.get(sid, '/sink', method='POST', end=False)
            log.append(('sink', c.upload(sid, body, end=False)))
            c.send(frame(RST, 0, sid, struct.pack('>I', 8)))
            sid += 2
        proxy_reset_sids = []
        for path, extra in [('/early', []), ('/early', []), ('/reset', []), ('/reset', []),
                            ('/echo', [('authorization', 'NTLM TlRMTVNTUAAB')]), ('/echo', [('X-Bad', '1')])]:
            if path == '/reset':
                proxy_reset_sids.append(sid)
            c.get(sid, path, extra, method='POST', end=False)
            log.append((path, c.upload(sid, body)))
            sid += 2
        # Refused requests whose whole body arrives in the same read as their HEADERS: nghttp2 hands
        # that DATA to the handler before the RST_STREAM is even submitted.
        for i in range(40):
            extra = [('authorization', 'NTLM TlRMTVNTUAAB')] if i % 2 else [('X-Bad', '1')]
            state = c.post_at_once(sid, '/echo', extra, b'r' * 30000)
            if state != 'ok':
                log.append(('refused', state))
            sid += 2
        c.get(sid, '/echo', method='POST', end=False)
        n = 3 * 1024 * 1024
        data = pattern(0, n)
        up = c.upload(sid, data)
        ok = c.wait(c.done(sid), 8)
        r = c.responses.get(sid, {})
        return {'log': log, 'upload': up, 'done': ok, 'status': r.get('status'),
                'body': bytes(r.get('body', b'')).decode('latin1'), 'expected': 'len=%d sum=%d' % (n, sum(data)),
                'proxy_resets': [c.resets.get(s) for s in proxy_reset_sids], 'early_status': c.responses.get(9, {}).get('status'),
                'goaway': c.goaway}

    def scenario_manual_window(port):
        """A body the proxy never consumes stalls at the stream window; a consumed one flows."""
        c = Conn(port)
        c.wait(lambda: c.peer_initial != 65535, 5)
        c.get(1, '/sink', method='POST', end=False)
        state = c.upload(1, b's' * (1 << 20), end=False, deadline=1.5)
        sent_unconsumed = c.peer_initial - c.windows[1]
        c.send(frame(RST, 0, 1, struct.pack('>I', 8)))
        c.get(3, '/echo', method='POST', end=False)
        up = c.upload(3, pattern(0, 1 << 20))
        c.wait(c.done(3), 8)
        return {'sink_state': state, 'sink_sent': sent_unconsumed, 'stream_window': c.peer_initial,
                'echo': bytes(c.responses.get(3, {}).get('body', b'')).decode(), 'echo_upload': up}

    def scenario_upload_window(port):
        """A stream whose body is never consumed keeps the initial window; one whose first bytes are
        consumed gets the wider upload window, and stalls at it once its consumer stops."""
        c = Conn(port)
        c.wait(lambda: c.peer_initial != 65535, 5)
        c.get(1, '/sink', method='POST', end=False)
        sink = c.upload(1, b's' * (1 << 20), end=False, deadline=1.5)
        c.get(3, '/take?n=16384', method='POST', end=False)
        take = c.upload(3, b't' * (4 << 20), end=False, deadline=2)
        return {'stream_window': c.peer_initial, 'sink_state': sink, 'sink_sent': c.sent.get(1, 0),
                'take_state': take, 'take_sent': c.sent.get(3, 0), 'resets': c.resets, 'goaway': c.goaway}

    def scenario_rapid_reset(port, count=3000):
        # /bytes answers at once, so many answers are written for streams already reset.
        c = Conn(port)
        out, sid = [], 1
        for i in range(count):
            if c.closed:
                break
            block = c.enc.encode([(':method', 'GET'), (':scheme', 'http'), (':authority', '127.0.0.1'), (':path', '/bytes?n=100')])
            out.append(frame(HEADERS, 5, sid, block) + frame(RST, 0, sid, struct.pack('>I', 8)))
            sid += 2
            if len(out) == 50:
                c.send(b''.join(out))
                out = []
        if out:
            c.send(b''.join(out))
        c.wait(lambda: c.goaway is not None and c.closed, 10)
        return {'goaway': c.goaway, 'closed': c.closed, 'sent_streams': (sid - 1) // 2}

    def scenario_continuation_flood(port, count=5000):
        c = Conn(port)
        block = c.enc.encode([(':method', 'GET'), (':scheme', 'http'), (':authority', '127.0.0.1'), (':path', '/headers')])
        c.send(frame(HEADERS, 1, 1, block))
        literal = b'\x00\x07x-flood\x0aaaaaaaaaaa'
        sent = 0
        for i in range(count):
            if not c.send(frame(CONT, 0, 1, literal)):
                break
            sent += 1
        closed = c.wait_closed(10)
        return {'goaway': c.goaway, 'closed': closed, 'sent': sent, 'responses': len(c.responses)}

    def scenario_big_headers(port):
        c = Conn(port)
        kerberos = 'a' * 60000
        c.get(1, '/headers', [('x-kerberos-token', kerberos)])
        c.wait(c.done(1), 10)
        big = [('x-big-%d' % i, 'a' * 60000) for i in range(5)]
        c.get(3, '/headers', big)
        c.wait(c.done(3), 10)
        c.get(5, '/headers')
        c.wait(c.done(5), 10)
        r = lambda s: {'reset': c.resets.get(s), 'status': c.responses.get(s, {}).get('status'),
                       'length': len(c.responses.get(s, {}).get('body', b''))}
        return {'kerberos': r(1), 'too_large': r(3), 'after': r(5), 'goaway': c.goaway}

    def scenario_long_poll(port):
        """An open stream is not idle: the answer after 800 ms arrives despite a 300 ms idle timeout."""
        c = Conn(port)
        c.get(1, '/delay')
        c.wait(c.done(1), 5)
        r = c.responses.get(1, {})
        goaway_before = c.goaway
        closed = c.wait_closed(5)
        return {'status': r.get('status'), 'body': bytes(r.get('body', b'')).decode(), 'goaway_before': goaway_before,
                'goaway': c.goaway, 'closed': closed}

    def scenario_settings_timeout(port):
        c = Conn(port, ack_settings=False)
        closed = c.wait_closed(5)
        return {'goaway': c.goaway, 'closed': closed}

    def scenario_idle(port):
        c = Conn(port)
        c.get(1, '/bytes?n=10')
        c.wait(c.done(1), 5)
        t0 = time.time()
        closed = c.wait_closed(5)
        return {'status': c.responses.get(1, {}).get('status'), 'goaway': c.goaway, 'closed': closed,
                'idle_seconds': time.time() - t0}

    def scenario_quiesce(port):
        c = Conn(port)
        c.get(1, '/quiesce')
        c.wait(lambda: c.goaway is not None, 5)
        goaway_before_end = not c.responses.get(1, {}).get('ended')
        c.wait(c.done(1), 5)
        r = c.responses.get(1, {})
        closed = c.wait_closed(5)
        return {'goaway': c.goaway, 'goaway_before_end': goaway_before_end, 'status': r.get('status'),
                'body': bytes(r.get('body', b'')).decode('latin1'), 'closed': closed}

    def scenario_stalled(port):
        """Stream 1 never gets a stream WINDOW_UPDATE; stream 3 must still complete."""
        c = Conn(port, stream_window=65535)
        c.stalled.add(1)
        c.get(1, '/bytes?n=8000000')
        c.get(3, '/bytes?n=4000000')
        ok = c.wait(c.done(3), 20)
        b3 = bytes(c.responses.get(3, {}).get('body', b''))
        return {'done3': ok, 'len3': len(b3), 'correct3': b3 == pattern(0, 4000000),
                'len1': len(c.responses.get(1, {}).get('body', b'')), 'goaway': c.goaway}

    def scenario_concurrent(port, streams=100):
        c = Conn(port)
        c.wait(lambda: c.peer_initial != 65535, 5)
        sizes = {}
        for i in range(streams):
            sid = 2 * i + 1
            size = (i * 7919) % 150000 + 1
            sizes[sid] = size
            if i % 2 == 0:
                c.get(sid, '/bytes?n=%d' % size)
            else:
                c.get(sid, '/echo', method='POST', end=False)
        uploads = {sid: pattern(sid, sizes[sid]) for sid in sizes if sid % 4 == 3}
        offsets = {sid: 0 for sid in uploads}
        stop = time.time() + 30
        while offsets and time.time() < stop:
            progressed = False
            for sid in list(offsets):
                off, data = offsets[sid], uploads[sid]
                n = min(c.conn_window, c.windows.get(sid, c.peer_initial), 16384, len(data) - off)
                if n > 0:
                    last = off + n == len(data)
                    c.send(frame(DATA, 1 if last else 0, sid, data[off:off + n]))
                    c.conn_window -= n
                    c.windows[sid] -= n
                    offsets[sid] = off + n
                    progressed = True
                    if last:
                        del offsets[sid]
            if not progressed:
                c.read_frame(timeout=1)
        c.wait(lambda: all(c.done(s)() for s in sizes), 30)
        bad = []
        for sid, size in sizes.items():
            r = c.responses.get(sid, {})
            body = bytes(r.get('body', b''))
            if sid in uploads:
                ok = r.get('status') == 200 and body.decode() == 'len=%d sum=%d' % (size, sum(uploads[sid]))
            else:
                ok = r.get('status') == 200 and body == pattern(0, size)
            if not ok:
                bad.append(sid)
        return {'ok': len(sizes) - len(bad), 'bad': bad, 'resets': c.resets, 'goaway': c.goaway}

    if __name__ == '__main__':
        name, port = sys.argv[1], int(sys.argv[2])
        print(json.dumps(globals()['scenario_' + name](port)))
    """#
