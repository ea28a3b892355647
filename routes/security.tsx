import type { PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import { ALLOWED_FIELDS } from "../lib/log.ts";

export const config: RouteConfig = { csp: true };

/** Every claim here must be true of the code as it stands; tests check the key ones. */
export default function Security(_props: PageProps) {
  return (
    <section class="page prose">
      <Head>
        <title>Security model · Reach</title>
        <meta
          name="description"
          content="What Reach encrypts end to end, what it does not, what it stores and what it logs."
        />
      </Head>
      <h1>Security model</h1>
      <p class="lead">
        What is end-to-end encrypted, what is not, what we store and what we
        log. No marketing: where something is not built yet, this page says so.
        Every claim here is tested.
      </p>

      <h2 id="layers">The layers</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Layer</th>
              <th scope="col">Status today</th>
              <th scope="col">What that means</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Voice</th>
              <td>End-to-end encrypted</td>
              <td>
                Calls use WebRTC. The two browsers negotiate DTLS-SRTP keys
                directly with each other; the keys never reach our server, and
                the audio goes browser to browser (or through a TURN relay,
                still encrypted).
                <br />
                <strong>Verified against a server in the middle.</strong>{" "}
                Each browser learns the other's certificate fingerprint through
                our signaling server, so a compromised server could try to
                answer each side with its own certificate and bridge the audio.
                Reach stops that: every receiving browser holds a device key
                certified by the owner's wallet key (our server cannot make
                one), and on answering it signs both fingerprints. The caller's
                browser keeps the audio muted until it has checked that
                signature chain against the wallet key it pinned for the handle,
                and that the signed fingerprint is the one the encryption
                handshake really used; otherwise it ends the call with a
                security warning. A caller signed in with a handle proves itself
                inside its sealed identity (see Sealed sender below): "Call from
                @alice (verified)"; anonymous callers show as unverified. A test
                runs this exact attack with a third browser in the middle. What
                remains: the first time you call a handle, you trust the wallet
                key our server shows (compare the safety number to be sure), and
                a changed key is a warning you must accept.
              </td>
            </tr>
            <tr>
              <th scope="row">Voicemail</th>
              <td>End-to-end encrypted</td>
              <td>
                A voicemail is sealed in the caller's browser before it leaves:
                a fresh AES-256-GCM key encrypts the recording (and the caller's
                name, if given), and that key is wrapped to each of the owner's
                receiving browsers with X25519 key agreement. Those browsers'
                private keys are made non-extractable and never leave them. Our
                server stores only the ciphertext, with the call id, the time
                and the size, and deletes it after 30 days. The same caveat as
                for calls: the owner's public keys reach the caller through our
                server, so a compromised server could hand out its own. A
                browser set up after a voicemail arrived cannot play it.
              </td>
            </tr>
            <tr>
              <th scope="row">Call setup (signaling)</th>
              <td>Seen by the server in flight, never stored or logged</td>
              <td>
                To connect two browsers, our server relays their session
                descriptions (SDP) and network candidates. These contain your
                network addresses. The server checks only the envelope (message
                type, call id, size), relays the bodies as they are, and never
                stores or logs them; a test reads the server's whole output for
                a real call and finds none of it.
              </td>
            </tr>
            <tr>
              <th scope="row">Your IP address</th>
              <td>Shared with the other side, unless you hide it</td>
              <td>
                A direct call lets the two browsers learn each other's
                addresses. Tick "Hide my IP address" (callers on the call page,
                owners on their own page) and your browser only uses a TURN
                relay: the other side sees the relay's address, never yours. The
                relay operator sees both addresses and how much audio flows, but
                cannot decrypt it.
              </td>
            </tr>
            <tr>
              <th scope="row">Call metadata</th>
              <td>Kept by us, hashed</td>
              <td>
                Routing a call to @bob needs our server to know it is for @bob.
                Each call leaves one log record: a keyed hash (HMAC-SHA-256) of
                a random token your browser keeps (never your wallet, even when
                you are signed in), a keyed hash of the handle called, the start
                time, the duration, the outcome (answered, declined, missed,
                cancelled, unavailable, busy) and whether it was relayed. No
                audio, no transcript. Records expire after 90 days by default.
              </td>
            </tr>
            <tr>
              <th scope="row">Sealed sender</th>
              <td>Who calls is hidden from us</td>
              <td>
                Our server routes a call without learning who is calling, even
                when you are signed in: your calling page never uses your
                session, and who you are travels sealed to the browsers of the
                person you call (X25519 and AES-256-GCM, as voicemail), which
                check it against your wallet key, a statement from our server
                that your handle is that wallet's (fetched long before any
                call), and a signature over this call by your device. They show
                "Call from @alice (verified)", or an unverified caller with the
                reason, never a name that did not check out. The DTLS key you
                use is new for each call, so it does not link your calls.{" "}
                <strong>What we still learn:</strong>{" "}
                the handle you call, your network address, when and how long,
                message sizes, and a random token your browser keeps (so repeat
                calls from one browser look alike to us, as for any anonymous
                caller). Someone who watches our server and your address could
                still guess who you are from them; sealed sender removes the
                name, not the traffic. The person you call sees your handle in
                their browser only; their "Recent calls" on our server shows
                each caller as a label that differs from owner to owner, so two
                people comparing lists cannot tell you called both.
              </td>
            </tr>
            <tr>
              <th scope="row">Presence</th>
              <td>Public</td>
              <td>
                While a browser receives calls for a handle, its page says
                "Online". Anyone can see that. If no browser is online but the
                owner set one up to be rung through its push service, the page
                says "Rings their browser" instead: a yes or no, never how many
                browsers or which.
              </td>
            </tr>
            <tr>
              <th scope="row">Ring anywhere (Web Push)</th>
              <td>Opt-in; the push service sees that, not who</td>
              <td>
                An owner may let a browser be rung with no Reach tab open. The
                browser subscribes with its push service (Google's for Chrome,
                Mozilla's for Firefox, Microsoft's for Edge, Apple's for Safari)
                and gives us an endpoint address and two keys. When you are
                called we send that push service one short message per browser,
                and one more when ringing stops. Each message is encrypted to
                your browser's own key (RFC 8291), padded to one fixed size and
                signed with our server's key (VAPID): the push service cannot
                read who calls, and the size tells it nothing. What the push
                service does see: that your browser was sent a call-sized
                message, when, how urgent, and for how long it may hold it; your
                browser's endpoint; and our server as the sender. It may link
                these to the browser or device it belongs to. We send only to
                the known push services' hosts over https.
              </td>
            </tr>
            <tr>
              <th scope="row">Sign-in</th>
              <td>Live</td>
              <td>
                Sign-In With Solana: your wallet (or a browser key) signs a text
                message naming this site, a one-time nonce that expires after 5
                minutes, and the time. The server checks the site, the chain,
                the time window (±10 minutes), that the nonce was never used
                before, that the address in the text is the key that signed, and
                the Ed25519 signature in strict mode. Nothing is posted on
                chain; nothing costs a fee.
              </td>
            </tr>
            <tr>
              <th scope="row">Browser key</th>
              <td>Live</td>
              <td>
                Without a wallet, your browser makes an Ed25519 key pair with
                WebCrypto. The private key is created non-extractable and kept
                in this browser's IndexedDB: no script, ours included, can read
                it out; it can only sign. Clearing site data loses it, and with
                it the account.
              </td>
            </tr>
            <tr>
              <th scope="row">Identity</th>
              <td>Stored by us, public</td>
              <td>
                Your handle and your wallet public key are stored in plain text:
                both are public (anyone can see them on your page and at
                <code>/handles/yourhandle</code>). We could be compelled to
                disclose that mapping.
              </td>
            </tr>
            <tr>
              <th scope="row">Phone numbers</th>
              <td>Opt-in; hashed and encrypted at rest, readable by us</td>
              <td>
                Binding a number is optional and needs a one-time code sent to
                it. We store it twice, never in clear: an HMAC-SHA-256 of the
                number under a secret key (so one number has one handle) and an
                AES-256-GCM ciphertext bound to your handle (so you can see it,
                masked: country code and last two digits). Our server holds both
                keys, so it can decrypt the number, and we could be compelled to
                disclose it. It never appears on your page, in API answers other
                than your own masked view, in the call log or in any log line.
              </td>
            </tr>
            <tr>
              <th scope="row">Contact discovery</th>
              <td>Blinded in your browser (OPRF); matched on your device</td>
              <td>
                When you look up which numbers have a Reach handle, your browser
                blinds each number before sending it (a verifiable oblivious
                pseudorandom function, RFC 9497, ristretto255) and checks a
                proof that our server used its published key. Our server sees
                only random-looking points: not the numbers, nor which of them
                matched. Your browser then downloads the directory of findable
                numbers and matches locally: each entry is a short tag and a
                handle sealed with AES-256-GCM under a key that only the
                number's blinded answer gives, so an entry opens only for
                someone who evaluated that number. What the server still learns:
                that your account evaluated so many numbers, and when (the
                limits count them; logs keep counts only). The directory is open
                to every signed-in owner, so anyone can learn how many numbers
                are findable; finding out whose number is whose means evaluating
                numbers one by one, which the limits bound (per address, per
                handle and for everyone together, per day). Our server holds the
                key and your number in encrypted form, so it could compute any
                findable number's entry itself. Only owners who switched on "Let
                people who have my number find me" are in the directory. Your
                browser keeps the numbers you looked up with their blinded
                answers in its own storage, so looking again spends nothing.
              </td>
            </tr>
            <tr>
              <th scope="row">Sessions</th>
              <td>Live</td>
              <td>
                A random 256-bit id, stored server side with an expiry (7 days
                by default), sent as an <code>HttpOnly</code>,{" "}
                <code>Secure</code>, <code>SameSite=Lax</code> cookie with the
                {" "}
                <code>__Host-</code>{" "}
                prefix. Signing out deletes it. Requests that change anything
                must come from this site's own origin.
              </td>
            </tr>
            <tr>
              <th scope="row">Transport</th>
              <td>TLS (production)</td>
              <td>
                In production Reach refuses to start without an https origin and
                tells browsers to use https only (HSTS). TLS is terminated by
                the hosting platform.
              </td>
            </tr>
          </tbody>
        </table>
      </div>

      <h2 id="stored">What the server stores</h2>
      <ul>
        <li>
          Voicemail: ciphertext only, with call id, time and size; each
          receiving browser's public key.
        </li>
        <li>
          Your call history is built from the call log: callers appear as a
          short label derived from the caller hash and your handle, so a repeat
          caller is recognisable to you without us keeping who it is, and your
          labels do not match anyone else's. Handles of callers your browser
          verified are kept in that browser only. Operators see counts and the
          hashed call log, never handles, numbers or addresses.
        </li>
        <li>
          Call records while a call lives (state, handle, the hashes above,
          times, which device answered, hashed resume tokens, and its deadlines:
          when ringing ends, each side's last sign of life, refreshed every
          heartbeat, and when a dropped side must be back), then the call log
          record described above. The record itself is deleted 6 hours after the
          call started or last changed. While it lives, the call is also indexed
          under its next deadline, so that any server can end it if the one
          holding it stops; that index entry is removed when the call ends.
          While a call rings, one more entry lists it under the handle called,
          with the caller's handle if the caller signed in with one (what the
          ringing page shows), so a tab that opens mid-ring rings too; it is
          removed when ringing ends and expires a minute after the ring deadline
          in any case.
        </li>
        <li>
          Presence: a random id per receiving browser tab, with a 45-second
          expiry refreshed while it is connected.
        </li>
        <li>
          Push subscriptions, for browsers their owner set up to be rung: the
          endpoint address and the browser's two keys, sealed together with
          AES-256-GCM under our data key and bound to your handle (our server
          can open them, to send), with a keyed hash of the endpoint (so the
          same browser is not stored twice), the name you gave the browser, when
          you added it and when a call last rang it. At most 10 per handle. Kept
          until you remove the browser, or until its push service says the
          subscription is gone (the browser unsubscribed or the site's data was
          cleared), then deleted. The messages themselves are not stored.
        </li>
        <li>
          Handle records: handle, wallet public key, display name, greeting,
          accent colour, created and updated times.
        </li>
        <li>Sign-in nonces: for 5 minutes, deleted when used.</li>
        <li>
          Abuse-limit counters and socket leases: a keyed hash of your address
          (or of your wallet, when you are signed in) with a count, each
          expiring with its window (a minute to a day) or, for an open
          connection, 45 seconds after it was last renewed. Never the address
          itself. Nothing is counted or stored for a handle that does not exist.
        </li>
        <li>
          Sessions: your wallet public key and the expiry, under a random id.
        </li>
      </ul>

      <h2 id="limits">Abuse limits, and who can touch your call</h2>
      <ul>
        <li>
          Only the two sides of a call can speak in it. Our server checks every
          message against the call's own record, which names the connection that
          placed the call and the device that answered it; anything else is
          refused and closes the sender's connection. Knowing a call's id is not
          enough to hear or steer it, and call ids are never written to logs or
          to the operator's export: those show a keyed reference of the id
          instead.
        </li>
        <li>
          Limits on rings, voicemails, sign-ins, handle claims, number look-ups
          and open connections count per network address (an IPv6 /64 counts as
          one) or per signed-in wallet, never per something a client can make
          up. Rings count per address only, since every caller is anonymous to
          us. A flood from one address cannot use up what other callers may send
          you. Your voicemail inbox has a size and count quota, so it cannot be
          filled by strangers either.
        </li>
        <li>
          Every limit is shared by all our servers and is a documented setting
          (see the README); the operator of an instance can raise it.
        </li>
      </ul>

      <h2 id="verify">Check it yourself</h2>
      <p>
        During a call, open <strong>Connection details</strong>{" "}
        under the call controls. It shows what{" "}
        <code>chrome://webrtc-internals</code>{" "}
        would: the DTLS state and version, the DTLS and SRTP cipher suites, your
        certificate fingerprint and the other side's, whether the path is direct
        or relayed, and audio packets sent and received. Compare the
        fingerprints with the person you are talking to (read them out): if your
        "their fingerprint" is their "your fingerprint" and the other way round,
        nobody sits between you.
      </p>

      <h2 id="logs">What we log, and what we never log</h2>
      <p>
        Logs are JSON lines with an event name and only these fields; the logger
        drops anything else before writing:
      </p>
      <p>
        {[...ALLOWED_FIELDS].map((f, i) => (
          <>
            {i > 0 && ", "}
            <code>{f}</code>
          </>
        ))}
      </p>
      <p>
        Request lines carry the route pattern (like{" "}
        <code>/@:handle</code>), never the address asked for, so handles do not
        appear in logs. We never log request bodies, cookies, session ids,
        signatures, IP addresses, handles, phone numbers or call ids (a call
        appears as{" "}
        <code>call</code>, a 12-character keyed reference). A test signs in,
        claims a handle and checks every log line written for them.
      </p>

      <h2 id="browser">What your browser is protected from</h2>
      <ul>
        <li>
          Pages run only Reach's own scripts, each page with a fresh nonce in
          its Content-Security-Policy. No third-party scripts, trackers or
          fonts.
        </li>
        <li>Reach cannot be framed by another site.</li>
        <li>No referrer is sent when you follow a link off Reach.</li>
        <li>
          Only Reach's own pages may ask for the microphone; camera, location
          and payment are off.
        </li>
      </ul>

      <h2 id="signal">Compared to Signal</h2>
      <p>
        Signal is the gold standard; we are not Signal. Like Signal, Reach now
        hides who is calling from its own servers (sealed sender), but our
        server still sees your network address and timing. Signal finds contacts
        inside a secure enclave (our contact discovery hides the numbers you
        look up from our server, but our server holds the key and the numbers of
        findable owners, and learns how many numbers each account looks up and
        when); Reach routes by handle, so the server knows whom a call is for;
        and Reach has not been independently audited. If you need Signal-grade
        metadata privacy, use Signal.
      </p>
    </section>
  );
}
