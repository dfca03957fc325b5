// The View side of the MCP Apps bridge (SEP-1865, version 2026-01-26):
// JSON-RPC 2.0 over postMessage with the host that embeds this page.
//
// Why not the official @modelcontextprotocol/ext-apps App SDK: version
// 2.0.4 pulls in @modelcontextprotocol/client, core and zod, and a minimal
// App bundles to about 650 KB minified (147 KB gzipped), all inlined into
// every widget load, and it needs a Node build. The board uses a handful of
// messages; this file speaks them in about 150 lines with no build step.
// The browser test drives it against a host written from the specification.
"use strict";

const McpAppsBridge = (() => {
  const PROTOCOL_VERSION = "2026-01-26";

  /** An error answer from the host, or a request that got no answer. */
  class RpcError extends Error {
    constructor(error) {
      super(error && typeof error.message === "string" ? error.message : "The host reported an error.");
      this.name = "RpcError";
      this.code = error && error.code;
      this.data = error && error.data;
    }
  }

  /**
   * create returns a bridge to `host` (the parent window). It listens on
   * `self` and accepts messages only from `host`: another frame cannot
   * pose as the host.
   */
  function create({ host = window.parent, self = window, appInfo, appCapabilities = {}, timeoutMs = 60000 } = {}) {
    let nextId = 1;
    // What the host said it supports, in its answer to ui/initialize.
    let hostCapabilities = {};
    const pending = new Map();
    const notificationHandlers = new Map();
    const requestHandlers = new Map([["ping", () => ({})]]);

    // The page runs in a sandboxed frame whose host origin it cannot know
    // in advance, hence "*"; nothing secret is ever sent.
    const post = (message) => host.postMessage(message, "*");
    const isId = (id) => typeof id === "string" || (typeof id === "number" && Number.isFinite(id));

    function onMessage(event) {
      if (event.source !== host) return;
      const msg = event.data;
      if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") return;
      if (typeof msg.method === "string") {
        if (isId(msg.id)) {
          answer(msg);
        } else {
          const handler = notificationHandlers.get(msg.method);
          if (handler) handler(msg.params && typeof msg.params === "object" ? msg.params : {});
        }
        return;
      }
      const waiter = isId(msg.id) && pending.get(msg.id);
      if (!waiter) return;
      pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.error) waiter.reject(new RpcError(msg.error));
      else waiter.resolve(msg.result && typeof msg.result === "object" ? msg.result : {});
    }

    async function answer(msg) {
      const handler = requestHandlers.get(msg.method);
      if (!handler) {
        post({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: `Method not found: ${msg.method}` } });
        return;
      }
      try {
        const result = await handler(msg.params && typeof msg.params === "object" ? msg.params : {});
        post({ jsonrpc: "2.0", id: msg.id, result: result || {} });
      } catch (err) {
        post({ jsonrpc: "2.0", id: msg.id, error: { code: -32603, message: String((err && err.message) || err) } });
      }
    }

    /** request sends a request and resolves with its result. */
    function request(method, params, timeout = timeoutMs) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new RpcError({ code: -32001, message: `The host did not answer ${method} within ${Math.round(timeout / 1000)} s.` }));
        }, timeout);
        pending.set(id, { resolve, reject, timer });
        post({ jsonrpc: "2.0", id, method, params });
      });
    }

    /** notify sends a notification. */
    function notify(method, params) {
      post({ jsonrpc: "2.0", method, params: params || {} });
    }

    /**
     * watchSize reports the element's size whenever it changes, at most once
     * a frame, so that a host with flexible dimensions can fit the frame.
     */
    function watchSize(element) {
      let last = "";
      let queued = false;
      const report = () => {
        queued = false;
        const rect = element.getBoundingClientRect();
        const size = { width: Math.ceil(rect.width), height: Math.ceil(rect.height) };
        const key = size.width + "x" + size.height;
        if (key === last || size.width === 0) return;
        last = key;
        notify("ui/notifications/size-changed", size);
      };
      new ResizeObserver(() => {
        if (!queued) {
          queued = true;
          requestAnimationFrame(report);
        }
      }).observe(element);
    }

    /**
     * updateModelContext tells the host what its model should know about
     * the View from the next turn on; each update replaces the last.
     *
     * The request is SEP-1865's ui/update-model-context (2026-01-26,
     * "Requests (View → Host)"): a request, not a notification, with params
     * content?: ContentBlock[] and structuredContent?: object, answered
     * with {} or an error. The 2026-01-26 text names no capability for it;
     * the extension's draft specification and its SDK's
     * McpUiHostCapabilities add hostCapabilities.updateModelContext, the
     * content modalities a host takes (text, structuredContent, …). So only
     * a host that declares it is sent anything, and only the parts it lists.
     *
     * It resolves with whether the host took the update and never rejects:
     * the update is a courtesy to the model, and a host that cannot take it
     * is no concern of the person's.
     */
    async function updateModelContext({ text, structuredContent }) {
      const accepts = hostCapabilities.updateModelContext;
      if (!accepts || typeof accepts !== "object") return false;
      const params = {};
      if (accepts.text && typeof text === "string" && text) params.content = [{ type: "text", text }];
      if (accepts.structuredContent && structuredContent && typeof structuredContent === "object") params.structuredContent = structuredContent;
      if (!params.content && !params.structuredContent) return false;
      try {
        await request("ui/update-model-context", params);
        return true;
      } catch {
        return false;
      }
    }

    self.addEventListener("message", onMessage);

    return {
      request,
      notify,
      watchSize,
      onNotification: (method, handler) => notificationHandlers.set(method, handler),
      onRequest: (method, handler) => requestHandlers.set(method, handler),
      /** connect runs the handshake and resolves with the host's answer. */
      async connect(timeout = 30000) {
        const result = await request("ui/initialize", { protocolVersion: PROTOCOL_VERSION, appInfo, appCapabilities }, timeout);
        const caps = result.hostCapabilities;
        hostCapabilities = caps && typeof caps === "object" ? caps : {};
        notify("ui/notifications/initialized", {});
        return result;
      },
      /** callTool asks the host to call one of this server's tools. */
      callTool: (name, args) => request("tools/call", { name, arguments: args }),
      updateModelContext,
    };
  }

  return { create, RpcError, PROTOCOL_VERSION };
})();
