#!/usr/bin/python3
"""A camera whose RTP clock misbehaves on demand: a minimal RTSP server (TCP interleaved only)
sending an H.264 Annex B file at 10 pictures a second, for tests of segment times.

    rtp-clock-camera.py PORT FILE.h264 CONTROL.json      (PORT 0: any free port)

It prints "READY <port>" once it listens. CONTROL.json is read before every picture:
    {"jump": N, "jump_id": K}   add N ticks (90 kHz) to the RTP clock once for each new K
    {"pause": true}             send nothing (the clock stops counting with the pictures)
    {"rate": R}                 send R times faster than real time
    {"ts_per_frame": T}         ticks a picture (9000 = 10 fps)
    {"close": true}             shut the connection
"""
import socket, sys, threading, time, json, base64, struct, random
port, path, ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(path,'rb').read()
def nals(b):
    i=0; out=[]; starts=[]
    while True:
        j=b.find(b'\x00\x00\x01', i)
        if j<0: break
        starts.append(j+3); i=j+3
    for k,s in enumerate(starts):
        e = starts[k+1]-3 if k+1<len(starts) else len(b)
        n=b[s:e]
        while n.endswith(b'\x00'): n=n[:-1]
        out.append(n)
    return out
aus=[]; cur=[]
sps=pps=None
for n in nals(data):
    t=n[0]&0x1f
    if t==7 and sps is None: sps=n
    if t==8 and pps is None: pps=n
    cur.append(n)
    if t in (1,5): aus.append(cur); cur=[]
def conf():
    try: return json.load(open(ctl))
    except Exception: return {}
def sender(sock, lock, state):
    seq=random.randint(0,65535); ts=random.randint(0,2**31); ssrc=random.randint(0,2**32-1)
    i=0; t0=time.monotonic(); virt=0.0; last_jump=conf().get('jump_id',0)
    while not state['dead']:
        c=conf()
        if c.get('close'): 
            try: sock.shutdown(socket.SHUT_RDWR)
            except Exception: pass
            return
        if c.get('pause'): time.sleep(0.05); t0=time.monotonic()-virt; continue
        if c.get('jump_id',0)!=last_jump: last_jump=c['jump_id']; ts=(ts+int(c.get('jump',0)))&0xffffffff
        rate=float(c.get('rate',1.0))
        au=aus[i%len(aus)]
        pkts=[]
        for k,n in enumerate(au):
            last = k==len(au)-1
            if len(n)<=1400: pkts.append((n,last))
            else:
                hdr=n[0]; body=n[1:]; pos=0
                while pos<len(body):
                    chunk=body[pos:pos+1398]; s=pos==0; pos+=len(chunk); e=pos>=len(body)
                    fu=bytes([(hdr&0xe0)|28, (0x80 if s else 0)|(0x40 if e else 0)|(hdr&0x1f)])
                    pkts.append((fu+chunk, last and e))
        try:
            with lock:
                for payload,m in pkts:
                    rtp=struct.pack('!BBHII',0x80,(0x80 if m else 0)|96,seq,ts&0xffffffff,ssrc)+payload
                    seq=(seq+1)&0xffff
                    sock.sendall(b'$\x00'+struct.pack('!H',len(rtp))+rtp)
        except Exception: state['dead']=True; return
        ts=(ts+int(c.get('ts_per_frame',9000)))&0xffffffff
        i+=1; virt+=0.1/rate
        d=t0+virt-time.monotonic()
        if d>0: time.sleep(d)
def client(sock):
    lock=threading.Lock(); state={'dead':False}; buf=b''
    try:
        while True:
            d=sock.recv(65536)
            if not d: break
            buf+=d
            while buf:
                if buf[0:1]==b'$':
                    if len(buf)<4: break
                    l=struct.unpack('!H',buf[2:4])[0]
                    if len(buf)<4+l: break
                    buf=buf[4+l:]; continue
                k=buf.find(b'\r\n\r\n')
                if k<0: break
                head=buf[:k].decode('latin1'); buf=buf[k+4:]
                lines=head.split('\r\n'); method,url,_=lines[0].split(' ',2)
                h={}
                for ln in lines[1:]:
                    if ':' in ln: a,b=ln.split(':',1); h[a.strip().lower()]=b.strip()
                cl=int(h.get('content-length',0)); buf=buf[cl:]
                cseq=h.get('cseq','0'); extra=''; body=''
                if conf().get('mute'): continue
                if method=='OPTIONS': extra='Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n'
                elif method=='DESCRIBE':
                    body=('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=crafted\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n'
                          f'a=fmtp:96 packetization-mode=1;sprop-parameter-sets={base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}\r\na=control:trackID=0\r\n')
                    extra=f'Content-Base: {url.rstrip("/")}/\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n'
                elif method=='SETUP':
                    tr=h.get('transport','')
                    if 'TCP' not in tr.upper():
                        with lock: sock.sendall(f'RTSP/1.0 461 Unsupported Transport\r\nCSeq: {cseq}\r\n\r\n'.encode()); continue
                    extra='Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678;timeout=60\r\n'
                elif method=='PLAY':
                    extra='Session: 12345678\r\nRange: npt=0.000-\r\n'
                    threading.Thread(target=sender,args=(sock,lock,state),daemon=True).start()
                elif method=='TEARDOWN': extra='Session: 12345678\r\n'
                else: extra='Session: 12345678\r\n'
                with lock: sock.sendall(f'RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}\r\n{body}'.encode())
    except Exception as e: pass
    state['dead']=True
    try: sock.close()
    except Exception: pass
ls=socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); ls.bind(('127.0.0.1',port)); ls.listen(10)
print('READY',ls.getsockname()[1],flush=True)
while True:
    c,_=ls.accept(); threading.Thread(target=client,args=(c,),daemon=True).start()
