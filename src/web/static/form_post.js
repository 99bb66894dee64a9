// response_mode=form_post: send the authorization response on to the application.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const form = document.querySelector('form[data-auto-submit]');
  if (form) form.submit();
});
