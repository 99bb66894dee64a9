// Passkey ceremonies for Latchkey's pages. No inline script anywhere: the pages mark
// their buttons with data-* attributes and this file wires them up.
'use strict';

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || '';

  const toB64u = (buf) => {
    const bytes = new Uint8Array(buf);
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const fromB64u = (text) => {
    const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
    return Uint8Array.from(s, (c) => c.charCodeAt(0)).buffer;
  };

  async function post(url, body) {
    const res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error(data.error || 'Something went wrong. Please try again.');
      err.redirect = data.redirect;
      throw err;
    }
    return data;
  }

  function requestOptions(options) {
    const pk = options.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    for (const c of pk.allowCredentials || []) c.id = fromB64u(c.id);
    return pk;
  }

  function creationOptions(options) {
    const pk = options.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    pk.user.id = fromB64u(pk.user.id);
    for (const c of pk.excludeCredentials || []) c.id = fromB64u(c.id);
    return pk;
  }

  function assertionJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64u(r.authenticatorData),
        clientDataJSON: toB64u(r.clientDataJSON),
        signature: toB64u(r.signature),
        userHandle: r.userHandle ? toB64u(r.userHandle) : null,
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
  }

  function attestationJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64u(r.attestationObject),
        clientDataJSON: toB64u(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : [],
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
  }

  function showError(button, message) {
    const box = button.closest('[data-webauthn]')?.querySelector('[data-passkey-error]');
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  function cancelled(e) {
    return e && (e.name === 'NotAllowedError' || e.name === 'AbortError');
  }

  // A pending autofill (conditional) request must be aborted before a modal one starts.
  let autofill = null;

  async function signIn(finishUrl, next, mediation) {
    const started = await post('/webauthn/login/start');
    const publicKey = requestOptions(started.options);
    const request = { publicKey };
    if (mediation === 'conditional') {
      autofill = new AbortController();
      request.mediation = 'conditional';
      request.signal = autofill.signal;
    }
    const cred = await navigator.credentials.get(request);
    const done = await post(finishUrl, { ceremony: started.ceremony, credential: assertionJSON(cred), next });
    window.location.assign(done.redirect);
  }

  function wireSignIn(button, finishUrl) {
    button.addEventListener('click', async () => {
      if (autofill) autofill.abort();
      button.disabled = true;
      try {
        await signIn(finishUrl, button.dataset.next, 'modal');
      } catch (e) {
        if (e.redirect) return window.location.assign(e.redirect);
        showError(button, cancelled(e) ? 'The passkey request was cancelled. Try again when ready.' : e.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  function wireRegister(button) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const started = await post('/webauthn/register/start');
        const cred = await navigator.credentials.create({ publicKey: creationOptions(started.options) });
        const nameInput = button.closest('[data-webauthn]')?.querySelector('[data-passkey-name]');
        const done = await post('/webauthn/register/finish', {
          ceremony: started.ceremony,
          credential: attestationJSON(cred),
          name: nameInput ? nameInput.value : '',
          next: button.dataset.next,
        });
        window.location.assign(done.redirect);
      } catch (e) {
        if (e.redirect) return window.location.assign(e.redirect);
        const message = e && e.name === 'InvalidStateError'
          ? 'This device already holds a passkey for your account.'
          : cancelled(e) ? 'The passkey request was cancelled. Try again when ready.' : e.message;
        showError(button, message);
      } finally {
        button.disabled = false;
      }
    });
  }

  // Passkey autofill (conditional mediation): when the person starts on the username
  // field, the browser lists their passkeys among its suggestions.
  async function offerAutofill() {
    const field = document.querySelector('input[autocomplete~="webauthn"]');
    const button = document.querySelector('[data-passkey-login]');
    if (!field || !button || !window.PublicKeyCredential?.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    field.addEventListener('focus', async () => {
      try {
        await signIn('/webauthn/login/finish', button.dataset.next, 'conditional');
      } catch (e) {
        if (!cancelled(e)) showError(button, e.message);
      }
    }, { once: true });
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (!window.PublicKeyCredential) {
      for (const el of document.querySelectorAll('[data-webauthn]')) el.hidden = true;
      for (const el of document.querySelectorAll('[data-no-webauthn]')) el.hidden = false;
      for (const el of document.querySelectorAll('details.alternative')) el.open = true;
      return;
    }
    for (const b of document.querySelectorAll('[data-passkey-login]')) wireSignIn(b, '/webauthn/login/finish');
    for (const b of document.querySelectorAll('[data-passkey-reauth]')) wireSignIn(b, '/webauthn/reauth/finish');
    for (const b of document.querySelectorAll('[data-passkey-register]')) wireRegister(b);
    offerAutofill();
  });
})();
