import t from 'tap';
import { credentialsMisplaced, scrubCredentials, splitCredentials, urlWithoutSecrets, withCredentials } from '../../common/credentials.js';

t.test('scrubCredentials is linear: a megabyte of letters, then a URL behind them', async (t) => {
  // quadratic before (every position re-read the run to its end): a megabyte took hours
  const run = 'x'.repeat(1024 * 1024);
  t.equal(scrubCredentials(run), run);
  t.equal(scrubCredentials(`${run} rtsp://admin:pw@cam/ch1`), `${run} rtsp://***@cam/ch1`);
  t.notMatch(scrubCredentials(`${run}rtsp://admin:pw@cam/ch1`), /admin|pw@/, 'glued to the run, still scrubbed');
});

t.test('scrubCredentials hides the whole userinfo of every URL in a text', async (t) => {
  t.equal(scrubCredentials('rtsp://admin:s3cret@10.0.0.5:554/ch1'), 'rtsp://***@10.0.0.5:554/ch1');
  t.equal(scrubCredentials('failed rtsp://a:b@h/x then mqtts://u:p@broker:8883 too'), 'failed rtsp://***@h/x then mqtts://***@broker:8883 too');
  // an unencoded @ in a password: cut at its first @, the rest of the password would show
  t.equal(scrubCredentials('rtsp://admin:p@ss@10.0.0.5/ch1'), 'rtsp://***@10.0.0.5/ch1');
  t.equal(scrubCredentials('rtsp://10.0.0.5/ch1 mail admin@example.org'), 'rtsp://10.0.0.5/ch1 mail admin@example.org', 'text without userinfo stays');
  // an unencoded / or other path character before an @ of the password (an outside probe: the tail showed in logs, events and the ledger)
  for (const pw of ['Pa@localhost/9Zq', 'S3cr@t:/%#?pw', 'pass/word', 'p?ss', 'p#ss']) {
    const scrubbed = scrubCredentials(`camera rtsp://admin:${pw}@127.0.0.1:18554/cam1 refused`);
    t.equal(scrubbed, 'camera rtsp://***@127.0.0.1:18554/cam1 refused', `${pw}: nothing of it shows`);
  }
  t.equal(scrubCredentials('{"url":"rtsp://a:b/c@h/x","next":"rtsp://d:e@g/y"}'), '{"url":"rtsp://***@h/x","next":"rtsp://***@g/y"}', 'a URL ends at a quote: JSON stays readable');
  t.equal(scrubCredentials('rtsp://h/x'.repeat(50_000) + '@'), 'rtsp://***@', 'many URLs glued together: linear, and hidden whole');
});

t.test('credentialsMisplaced: an @ or a space past the host, where only an unencoded password puts one', async (t) => {
  for (const url of ['rtsp://admin:Pa@localhost/9Zq@10.0.0.5/ch1', 'rtsp://admin:pass/word@10.0.0.5/ch1', 'rtsp://admin:p#ss@10.0.0.5/ch1', 'rtsp://admin:p?ss@h/x', 'rtsp://admin:pa ss@10.0.0.5/ch1', 'mqtt://u:p/w@broker:1883']) {
    t.ok(credentialsMisplaced(url), url);
  }
  for (const url of ['rtsp://admin:p%40ss@10.0.0.5:554/ch1?subtype=0', 'rtsp://admin:p@ss@10.0.0.5/ch1', 'rtsp://[fe80::1]:554/x', 'mqtts://broker:8883']) {
    t.notOk(credentialsMisplaced(url), url);
  }
});

t.test('splitCredentials and withCredentials are inverse, percent-encoding included', async (t) => {
  const url = withCredentials('rtsp://10.0.0.5:554/ch1?subtype=0', 'ad min', 'p@ss:w/rd%');
  t.notMatch(url, 'p@ss:w/rd%', 'the password is encoded in the URL');
  t.same(splitCredentials(url), { url: 'rtsp://10.0.0.5:554/ch1?subtype=0', username: 'ad min', password: 'p@ss:w/rd%' });
  t.same(splitCredentials('rtsp://10.0.0.5/ch1'), { url: 'rtsp://10.0.0.5/ch1' }, 'no userinfo');
  t.same(splitCredentials('rtsp://viewer@10.0.0.5/ch1'), { url: 'rtsp://10.0.0.5/ch1', username: 'viewer', password: undefined }, 'a user without password');
  t.equal(withCredentials('rtsp://old:creds@10.0.0.5/ch1', 'new', 'pw'), 'rtsp://new:pw@10.0.0.5/ch1', 'configured credentials replace the URL\'s own');
  t.equal(withCredentials('rtsp://10.0.0.5/ch1'), 'rtsp://10.0.0.5/ch1', 'no username: unchanged');
});

t.test('urlWithoutSecrets: no userinfo or query; the path only where asked (a broker shows as its address)', async (t) => {
  t.equal(urlWithoutSecrets('https://store.example.com/bucket/key?X-Amz-Signature=abc'), 'https://store.example.com/bucket/key');
  t.equal(urlWithoutSecrets('mqtts://user:pw@broker.example.com:8883/x?a=b', { path: false }), 'mqtts://broker.example.com:8883');
  t.equal(urlWithoutSecrets('mqtt://[::1]:1883', { path: false }), 'mqtt://[::1]:1883');
  t.equal(urlWithoutSecrets('not a url'), 'invalid url');
});
