// The page behind the links in account mail (password reset, email verification). Served by the gateway from
// its own origin with a CSP that allows only this script; no framework, no build step, nothing from elsewhere.
//
// The token arrives in the URL fragment (#token=…), which browsers never send to a server or put in a
// Referer. The page takes it out of the address bar and history at once, then posts it, same-origin, to the
// mutation, and shows the outcome.
'use strict';

(function () {
  var page = document.body.getAttribute('data-page');
  var form = document.getElementById('form');
  var status = document.getElementById('status');
  var submit = document.getElementById('submit');
  // Relative to this page, so a gateway served under a path prefix still finds its own endpoint.
  var endpoint = new URL('../graphql/auth', window.location.href).href;

  // A second link pasted into this tab changes only the fragment, which loads nothing: start over with it.
  window.addEventListener('hashchange', function () {
    window.location.reload();
  });

  var token = new URLSearchParams(window.location.hash.slice(1)).get('token') || '';
  if (window.location.hash !== '') {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
  }

  var MESSAGES = {
    RESET_TOKEN_INVALID: 'This link is not valid any more: it was used already, it expired, or a newer link was sent. Ask for a new one.',
    VERIFICATION_TOKEN_INVALID: 'This link is not valid any more: it was used already, it expired, or a newer link was sent. Ask for a new one.',
    MAIL_DISABLED: 'Password reset and email verification are not available on this service.',
  };

  function show(outcome, code, text) {
    status.setAttribute('data-outcome', outcome);
    status.setAttribute('data-code', code);
    status.textContent = text;
  }

  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) {
    show('error', 'NO_TOKEN', 'This page opens from the link in the message we sent you. Open that link again, whole.');
    return;
  }
  form.hidden = false;

  function call(query, variables) {
    return fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // No cookies: the token is the whole credential, and a stale session must not change the outcome.
      credentials: 'omit',
      cache: 'no-store',
      body: JSON.stringify({ query: query, variables: variables }),
    }).then(function (response) {
      return response.json();
    });
  }

  function outcome(body, field, success) {
    if (body && body.data && body.data[field] === true) {
      form.hidden = true;
      show('success', 'OK', success);
      return;
    }
    var error = body && body.errors && body.errors[0];
    var code = (error && error.extensions && error.extensions.code) || 'UNKNOWN';
    show('error', code, MESSAGES[code] || (error && error.message) || 'Something went wrong. Try again.');
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var request;
    if (page === 'reset-password') {
      var password = document.getElementById('new-password').value;
      if (password !== document.getElementById('repeat-password').value) {
        show('error', 'MISMATCH', 'The two passwords differ.');
        return;
      }
      request = call('mutation ResetPassword($token: String!, $newPassword: String!) { resetPassword(token: $token, newPassword: $newPassword) }', {
        token: token,
        newPassword: password,
      }).then(function (body) {
        outcome(body, 'resetPassword', 'Your password has been changed, and every session of your account has been signed out. Sign in with the new password.');
      });
    } else {
      request = call('mutation VerifyEmail($token: String!) { verifyEmail(token: $token) }', { token: token }).then(function (body) {
        outcome(body, 'verifyEmail', 'Your email address is confirmed. You can close this page.');
      });
    }
    submit.disabled = true;
    show('pending', 'PENDING', 'Sending…');
    request
      .catch(function () {
        show('error', 'NETWORK', 'The service could not be reached. Check your connection and try again.');
      })
      .then(function () {
        submit.disabled = false;
      });
  });
})();
