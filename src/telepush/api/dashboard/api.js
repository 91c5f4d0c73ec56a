// The /v1 API as the page calls it: the operator's token (kept in this tab's session
// storage), one fetch wrapper whose errors are ApiErrors, and signing out when the token is
// missing or refused.
import { toast } from "./dom.js";

const TOKEN_KEY = "telepush.apiToken";

export const signedIn = () => Boolean(sessionStorage.getItem(TOKEN_KEY));
export const keepToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

// What signing out does to the page (app.js sets it): it is told the message to show and
// whether a token was held until now.
let signedOut = () => {};
export function onSignOut(handler) {
  signedOut = handler;
}

export function signOut(message) {
  const wasIn = signedIn();
  forgetToken();
  signedOut(message, wasIn);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    signOut();
    throw new ApiError(401, "unauthorized", "not signed in");
  }
  const init = {
    method,
    cache: "no-store",
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "network", `cannot reach telepush (${exc.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.status === 401) {
    signOut("The API token was refused: sign in again.");
    throw new ApiError(401, "unauthorized", "the API token was refused");
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    let message = error.message || `HTTP ${response.status}`;
    if (response.status === 404 && (!error.message || error.message === "Not Found")) {
      message = `${method} ${path.split("?")[0]}: not found on this server`;
    }
    throw new ApiError(response.status, error.code || `http_${response.status}`, message);
  }
  return data;
}

export const query = (params) => {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) q.set(key, value);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
};

// A failed call, told to the operator; a refused token has already signed them out.
export const report = (exc) => {
  if (exc && exc.status !== 401) toast(exc.message || String(exc));
};
