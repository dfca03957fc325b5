// The board: renders the board a tool returned, turns drags, keys and the
// add form into move_card and add_card calls through the bridge, and tells
// the host's model about each change the server confirmed.
//
// State is the board as the server last confirmed it plus the operations
// still in flight; what is shown is always the confirmed board with those
// operations applied. A refused operation is simply dropped, which rolls
// the board back however many other operations are pending.
(() => {
  const root = document.documentElement;
  const $ = (id) => document.getElementById(id);
  // Fixed: a wire key shared with the server (widget.ResultMetaKey), not
  // the product's name.
  const RESULT_META_KEY = "kanban-mcp/widget";
  // The product's name (product.Name), written in by `go generate ./widget`.
  const PRODUCT_NAME = "@product@";
  const WRITE_SCOPE = "kanban.write";

  const state = {
    confirmed: null, // the board (get_board's structured content)
    pending: [], // operations sent and not yet answered
    viewer: null, // hints from the result's _meta, advice only
    boardId: "",
    adding: null, // { columnId, draft } while the add form is open
    dragging: null, // { cardId } during a drag
  };
  let nextOp = 1;

  const bridge = McpAppsBridge.create({
    appInfo: { name: `${PRODUCT_NAME} board`, version: "1.0.0" },
    appCapabilities: { availableDisplayModes: ["inline"] },
  });

  // ---- Host context: theme, styles, container size. ----

  function applyHostContext(ctx) {
    if (!ctx || typeof ctx !== "object") return;
    if (ctx.theme === "light" || ctx.theme === "dark") setTheme(ctx.theme);
    const vars = ctx.styles && ctx.styles.variables;
    if (vars && typeof vars === "object") {
      for (const [name, value] of Object.entries(vars)) {
        // Only custom properties: a host's styles cannot reach anything else.
        if (/^--[a-z0-9-]+$/i.test(name) && typeof value === "string") root.style.setProperty(name, value);
      }
    }
    const dims = ctx.containerDimensions;
    if (dims && typeof dims === "object") {
      root.classList.toggle("fixed-height", typeof dims.height === "number");
      root.style.maxHeight = typeof dims.maxHeight === "number" && dims.maxHeight > 0 ? dims.maxHeight + "px" : "";
      root.style.maxWidth = typeof dims.maxWidth === "number" && dims.maxWidth > 0 ? dims.maxWidth + "px" : "";
    }
  }

  function setTheme(theme) {
    root.dataset.theme = theme;
    root.style.colorScheme = theme;
  }

  // ---- Board model. ----

  const clone = (board) => JSON.parse(JSON.stringify(board));

  function findCard(board, cardId) {
    for (const column of board.columns) {
      const index = column.cards.findIndex((c) => c.id === cardId);
      if (index >= 0) return { column, index, card: column.cards[index] };
    }
    return null;
  }

  const findColumn = (board, columnId) => board.columns.find((c) => c.id === columnId);

  // place moves a card to index (clamped) of a column, as move_card does:
  // the index counts the column's cards without the moved one.
  function place(board, card, columnId, index) {
    const at = findCard(board, card.id);
    if (at) at.column.cards.splice(at.index, 1);
    const column = findColumn(board, columnId);
    if (!column) return;
    const to = Math.max(0, Math.min(index, column.cards.length));
    column.cards.splice(to, 0, Object.assign({}, card, { column_id: columnId, column_name: column.name }));
  }

  function applyOp(board, op) {
    if (op.kind === "move") {
      const at = findCard(board, op.cardId);
      if (at) place(board, at.card, op.columnId, op.index);
    } else if (op.kind === "add") {
      const column = findColumn(board, op.columnId);
      if (column) column.cards.push({ id: op.tempId, title: op.title, description: "", labels: [], column_id: op.columnId });
    }
  }

  function shownBoard() {
    const board = clone(state.confirmed);
    for (const op of state.pending) applyOp(board, op);
    return board;
  }

  // ---- Rendering. ----

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "type" || key === "name") node.setAttribute(key, value === true ? "" : value);
      else node[key] = value;
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // labelHue gives each label a stable colour.
  function labelHue(label) {
    let h = 0;
    for (const ch of label) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function render() {
    if (!state.confirmed) return;
    // Rebuilding the columns under a drag would cancel it; dragend renders.
    if (state.dragging) return;
    const board = shownBoard();
    const pendingIds = new Set(state.pending.map((op) => op.cardId || op.tempId));
    const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.cardId : undefined;
    const focusedAdd = document.activeElement && document.activeElement.name === "title";

    $("title").textContent = board.title;
    const count = board.columns.reduce((n, c) => n + c.cards.length, 0);
    $("meta").textContent = `${board.visibility === "public" ? "Public" : "Private"} · ${count} ${count === 1 ? "card" : "cards"}`;
    $("refresh").hidden = false;
    $("refresh").disabled = state.pending.length > 0;

    const container = $("board");
    container.dataset.boardId = board.id;
    container.replaceChildren(...board.columns.map((column, ci) => renderColumn(board, column, ci, pendingIds)));
    container.hidden = false;
    $("placeholder").hidden = true;
    $("keys-hint").hidden = false;
    renderReadOnlyHint(board);
    root.dataset.state = "ready";
    $("app").setAttribute("aria-busy", state.pending.length > 0 ? "true" : "false");

    if (focusedId) {
      const card = container.querySelector(`.card[data-card-id="${CSS.escape(focusedId)}"]`);
      if (card) card.focus();
    } else if (focusedAdd && state.adding) {
      const input = container.querySelector(".add-card-form input[name=title]");
      if (input) input.focus();
    }
  }

  function renderColumn(board, column, ci, pendingIds) {
    const headingId = "col-" + column.id;
    const cards = el("div", { class: "column-cards", role: "list", "aria-labelledby": headingId });
    column.cards.forEach((card) => cards.append(renderCard(board, card, ci, pendingIds.has(card.id))));
    if (column.cards.length === 0) cards.append(el("p", { class: "empty muted", text: "No cards" }));

    const section = el("section", { class: "column", "data-column-id": column.id, "aria-labelledby": headingId },
      el("header", { class: "column-head" },
        el("h2", { class: "column-name", id: headingId, text: column.name }),
        el("span", { class: "column-count", text: String(column.cards.length), "aria-label": `${column.cards.length} ${column.cards.length === 1 ? "card" : "cards"}` })),
      cards);

    if (state.adding && state.adding.columnId === column.id) {
      section.append(renderAddForm(column));
    } else {
      const add = el("button", { class: "add-card", type: "button", text: "+ Add card", "aria-label": `Add a card to ${column.name}` });
      add.addEventListener("click", () => {
        state.adding = { columnId: column.id, draft: "" };
        render();
        const input = $("board").querySelector(".add-card-form input[name=title]");
        if (input) input.focus();
      });
      section.append(add);
    }

    section.addEventListener("dragover", (event) => onDragOver(event, section));
    section.addEventListener("dragleave", (event) => {
      if (!section.contains(event.relatedTarget)) clearDropMarker();
    });
    section.addEventListener("drop", (event) => onDrop(event, section));
    return section;
  }

  function renderCard(board, card, ci, isPending) {
    const labels = (card.labels || []).map((label) => {
      const chip = el("li", { class: "label", text: label });
      chip.style.setProperty("--hue", String(labelHue(label)));
      return chip;
    });
    const left = board.columns[ci - 1];
    const right = board.columns[ci + 1];
    const node = el("article", {
      class: "card",
      role: "listitem",
      tabIndex: 0,
      draggable: !isPending,
      "data-card-id": card.id,
      "data-pending": isPending ? "true" : undefined,
      "aria-label": card.title,
      "aria-describedby": "keys-hint",
    },
      el("div", { class: "card-title", text: card.title }),
      card.description ? el("p", { class: "card-desc", text: card.description }) : null,
      labels.length ? el("ul", { class: "labels", "aria-label": "Labels" }, ...labels) : null,
      el("div", { class: "card-actions" },
        moveButton("left", left, card),
        moveButton("right", right, card)));
    if (isPending) return node;
    node.addEventListener("keydown", (event) => onCardKey(event, card.id));
    node.addEventListener("dragstart", (event) => {
      state.dragging = { cardId: card.id };
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.id);
      node.classList.add("dragging");
    });
    node.addEventListener("dragend", () => {
      state.dragging = null;
      node.classList.remove("dragging");
      clearDropMarker();
      render();
    });
    return node;
  }

  function moveButton(direction, target, card) {
    const button = el("button", {
      type: "button",
      class: "icon move",
      "data-move": direction,
      tabIndex: -1,
      disabled: !target,
      text: direction === "left" ? "‹" : "›",
      "aria-label": target ? `Move “${card.title}” to ${target.name}` : undefined,
      title: target ? `Move to ${target.name}` : undefined,
    });
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      moveBy(card.id, direction === "left" ? -1 : 1, 0);
    });
    return button;
  }

  function renderAddForm(column) {
    const input = el("input", { name: "title", type: "text", maxLength: 200, required: true, autocomplete: "off", placeholder: "Card title", "aria-label": `New card in ${column.name}` });
    input.value = state.adding.draft;
    input.addEventListener("input", () => { state.adding.draft = input.value; });
    const add = el("button", { type: "button", class: "primary", text: "Add" });
    const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
    const close = () => { state.adding = null; render(); };
    // Enter and the Add button add the card directly.
    const submit = () => {
      const title = input.value.trim();
      if (!title) {
        input.focus();
        return;
      }
      state.adding = { columnId: column.id, draft: "" };
      addCard(column.id, title);
    };
    add.addEventListener("click", submit);
    cancel.addEventListener("click", close);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    // A group, not a <form>: hosts frame widgets without allow-forms, and
    // Chromium then blocks (and logs) even the implicit submission on Enter.
    return el("div", { class: "add-card-form", role: "group", "aria-label": `Add a card to ${column.name}` }, input, el("div", { class: "form-actions" }, add, cancel));
  }

  function renderReadOnlyHint(board) {
    const hint = $("readonly-hint");
    const v = state.viewer;
    if (!v || v.can_write !== false) {
      hint.hidden = true;
      return;
    }
    const scope = v.write_scope || WRITE_SCOPE;
    if (!v.signed_in) hint.textContent = `You are viewing without signing in. To change your own boards, connect ${PRODUCT_NAME} and sign in.`;
    else if (!board.owned) hint.textContent = "This board belongs to someone else: you can look, but only its owner can change it.";
    else hint.textContent = `This connection can only read. To move or add cards, reconnect ${PRODUCT_NAME} and allow ${scope}.`;
    hint.hidden = false;
  }

  // ---- Drag and drop. ----

  function dropIndex(section, clientY) {
    const cards = [...section.querySelectorAll(".column-cards > .card:not(.dragging)")];
    const index = cards.findIndex((card) => {
      const rect = card.getBoundingClientRect();
      return clientY < rect.top + rect.height / 2;
    });
    return { cards, index: index < 0 ? cards.length : index };
  }

  function onDragOver(event, section) {
    if (!state.dragging) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    const { cards, index } = dropIndex(section, event.clientY);
    let marker = document.querySelector(".drop-marker");
    if (!marker) marker = el("div", { class: "drop-marker", "aria-hidden": "true" });
    const list = section.querySelector(".column-cards");
    if (index < cards.length) list.insertBefore(marker, cards[index]);
    else list.append(marker);
  }

  function clearDropMarker() {
    const marker = document.querySelector(".drop-marker");
    if (marker) marker.remove();
  }

  function onDrop(event, section) {
    if (!state.dragging) return;
    event.preventDefault();
    const cardId = state.dragging.cardId;
    const { index } = dropIndex(section, event.clientY);
    clearDropMarker();
    state.dragging = null;
    moveCard(cardId, section.dataset.columnId, index);
  }

  // ---- Keyboard. ----

  function onCardKey(event, cardId) {
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const step = arrows[event.key];
    if (!step || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    if (event.shiftKey) moveBy(cardId, step[0], step[1]);
    else focusBy(cardId, step[0], step[1]);
  }

  // moveBy moves a card one column across (keeping its index) or one place
  // up or down.
  function moveBy(cardId, dx, dy) {
    const board = shownBoard();
    const at = findCard(board, cardId);
    if (!at) return;
    const ci = board.columns.indexOf(at.column);
    if (dx) {
      const target = board.columns[ci + dx];
      if (target) moveCard(cardId, target.id, Math.min(at.index, target.cards.length));
    } else {
      const index = at.index + dy;
      if (index >= 0 && index < at.column.cards.length) moveCard(cardId, at.column.id, index);
    }
  }

  function focusBy(cardId, dx, dy) {
    const columns = [...$("board").querySelectorAll(".column")];
    const card = $("board").querySelector(`.card[data-card-id="${CSS.escape(cardId)}"]`);
    const column = card.closest(".column");
    const ci = columns.indexOf(column);
    const index = [...column.querySelectorAll(".card")].indexOf(card);
    const target = columns[ci + dx];
    if (!target) return;
    const cards = [...target.querySelectorAll(".card")];
    const next = dx ? cards[Math.min(index, cards.length - 1)] : cards[index + dy];
    if (next) next.focus();
    else if (dx) target.querySelector(".add-card")?.focus();
  }

  // ---- Telling the model. ----
  //
  // A change the person makes here reaches the database, but not the
  // model, which would go on from the board as it last read it. After each
  // change the server confirmed, the widget tells the host what changed and
  // the board as it now is, for the model's next turn. Each update replaces
  // the last (SEP-1865), so each carries the whole board, bounded.

  // At most this many cards are listed, and at most this many per column;
  // the column lines say how many there are, and get_board lists them all.
  const CONTEXT_CARDS = 50;
  const CONTEXT_CARDS_PER_COLUMN = 10;

  // textValue shows a value as the server's tool results do: a plain token
  // as it is, anything else as a JSON string, so that no title or name can
  // forge a field or a line. U+2028 and U+2029, which JSON.stringify leaves
  // as they are, are escaped too, though the server refuses them in names.
  function textValue(v) {
    const s = String(v);
    if (/^[A-Za-z0-9_.\/:@+-]+$/.test(s)) return s;
    return JSON.stringify(s).replace(/[\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16));
  }

  // record is one line of the server's text format: a kind, then key=value
  // fields, those without a value left out.
  function record(kind, fields) {
    const parts = [kind];
    for (const [key, v] of Object.entries(fields)) {
      if (v !== undefined && v !== null && v !== "") parts.push(`${key}=${textValue(v)}`);
    }
    return parts.join(" ");
  }

  // boardContext is the update for a board that just changed: summary, then
  // the board as lines in the style of the server's tool results (IDs,
  // titles, positions and versions, which the model needs to chain calls;
  // no descriptions), and the same board in the shape of get_board's
  // structured content, without what a change leaves stale (updated_at)
  // and what the lines leave out (descriptions, labels). The changed card is
  // always listed, wherever the bound falls.
  function boardContext(board, summary, changedId) {
    const perColumn = Math.min(CONTEXT_CARDS_PER_COLUMN, Math.max(1, Math.floor(CONTEXT_CARDS / Math.max(1, board.columns.length))));
    const cardCount = board.columns.reduce((n, c) => n + c.cards.length, 0);
    const lines = [summary, record("board", { id: board.id, title: board.title, version: board.version, card_count: cardCount })];
    const structured = {
      id: board.id, title: board.title, visibility: board.visibility, owned: board.owned, version: board.version,
      card_count: cardCount, columns: [],
    };
    for (const column of board.columns) {
      lines.push(record("column", { id: column.id, name: column.name, card_count: column.cards.length }));
      const cards = [];
      // Positions are places in the column, which the confirmed board
      // keeps in order; the version is the one the server last gave.
      column.cards.forEach((card, position) => {
        if (position >= perColumn && card.id !== changedId) return;
        lines.push("  " + record("card", { id: card.id, title: card.title, position, version: card.version }));
        cards.push({ id: card.id, title: card.title, position, version: card.version });
      });
      const more = column.cards.length - cards.length;
      if (more > 0) lines.push(`  …and ${more} more ${more === 1 ? "card" : "cards"}; get_board lists every card`);
      structured.columns.push({ id: column.id, name: column.name, card_count: column.cards.length, cards });
    }
    return { text: lines.join("\n"), structuredContent: structured };
  }

  // tellModel sends the confirmed board after a change. Hosts of the
  // standard get ui/update-model-context (McpAppsBridge.updateModelContext
  // says when). ChatGPT's Apps SDK also documents window.openai's widget
  // state as shown to the model ("Anything you pass to setWidgetState will
  // be shown to the model", Build your ChatGPT UI, "Persist component
  // state, expose context to ChatGPT", which asks for under 4k tokens), so
  // the text goes there too where it exists. Nothing here may fail the
  // change, which is done: every error stays quiet.
  function tellModel(summary, changedId) {
    try {
      const context = boardContext(state.confirmed, summary, changedId);
      bridge.updateModelContext(context);
      const openai = window.openai;
      if (openai && typeof openai.setWidgetState === "function") {
        Promise.resolve(openai.setWidgetState({ modelContext: context.text })).catch(() => {});
      }
    } catch {
      // The model misses one update; the person's change stands.
    }
  }

  // moveSummary words a move_card result as the model's update begins.
  function moveSummary(out) {
    const card = out.card;
    if (out.from_column_id === card.column_id) {
      return `The user moved card ${textValue(card.title)} within ${textValue(card.column_name)} from position ${out.from_position} to position ${card.position} in the board widget.`;
    }
    const from = findColumn(state.confirmed, out.from_column_id);
    return `The user moved card ${textValue(card.title)} from ${textValue(from ? from.name : out.from_column_id)} to ${textValue(card.column_name)} (position ${card.position}) in the board widget.`;
  }

  // ---- Calls. ----

  async function moveCard(cardId, columnId, index) {
    const before = findCard(shownBoard(), cardId);
    if (!before || (before.column.id === columnId && before.index === index)) return;
    const op = { id: nextOp++, kind: "move", cardId, columnId, index };
    state.pending.push(op);
    hideNotice("error");
    render();
    try {
      const result = await bridge.callTool("move_card", { card_id: cardId, column_id: columnId, position: index });
      const refusal = refusalOf(result);
      if (refusal) throw refusal;
      const moved = result.structuredContent && result.structuredContent.card;
      if (!moved) throw refusalFromText("The server's answer had no card in it.");
      place(state.confirmed, moved, moved.column_id, moved.position);
      hideNotice();
      announce(`Moved “${moved.title}” to ${moved.column_name}.`);
      // moved: false means the card already was there; nothing to tell.
      if (result.structuredContent.moved !== false) tellModel(moveSummary(result.structuredContent), moved.id);
    } catch (err) {
      showRefusal(err, "The card was not moved");
    } finally {
      settle(op);
    }
  }

  async function addCard(columnId, title) {
    const op = { id: nextOp++, kind: "add", tempId: "pending-" + nextOp, columnId, title };
    state.pending.push(op);
    hideNotice("error");
    render();
    try {
      const result = await bridge.callTool("add_card", { board_id: state.confirmed.id, column_id: columnId, title });
      const refusal = refusalOf(result);
      if (refusal) throw refusal;
      const card = result.structuredContent;
      if (!card || !card.id) throw refusalFromText("The server's answer had no card in it.");
      place(state.confirmed, card, card.column_id, card.position);
      hideNotice();
      announce(`Added “${card.title}” to ${card.column_name}.`);
      tellModel(`The user added card ${textValue(card.title)} to ${textValue(card.column_name)} (position ${card.position}) in the board widget.`, card.id);
    } catch (err) {
      // Nothing typed is lost: the title goes back into the open form.
      state.adding = { columnId, draft: title };
      showRefusal(err, "The card was not added");
    } finally {
      settle(op);
    }
  }

  function settle(op) {
    state.pending = state.pending.filter((p) => p !== op);
    render();
  }

  async function refresh() {
    if (!state.boardId || state.pending.length) return;
    $("refresh").disabled = true;
    try {
      const result = await bridge.callTool("get_board", { board_id: state.boardId });
      const refusal = refusalOf(result);
      if (refusal) throw refusal;
      showBoard(result);
      hideNotice();
    } catch (err) {
      showRefusal(err, "The board could not be reloaded");
    } finally {
      $("refresh").disabled = false;
    }
  }

  // ---- Refusals and messages. ----

  function textOf(result) {
    const parts = Array.isArray(result && result.content) ? result.content : [];
    return parts.filter((p) => p && p.type === "text" && typeof p.text === "string").map((p) => p.text).join(" ").trim();
  }

  function refusalFromText(text, kind = "error", scope = "") {
    return { refusal: true, kind, text, scope };
  }

  // refusalOf reads a tools/call result: null on success, else what went
  // wrong. A challenge in _meta["mcp/www_authenticate"] says whether the
  // person must sign in or grant a scope.
  function refusalOf(result) {
    if (!result || result.isError !== true) return null;
    const challenges = result._meta && result._meta["mcp/www_authenticate"];
    const header = Array.isArray(challenges) ? challenges.join(", ") : typeof challenges === "string" ? challenges : "";
    const error = /error="([^"]*)"/.exec(header);
    const scope = /scope="([^"]*)"/.exec(header);
    if (error && error[1] === "insufficient_scope") return refusalFromText(textOf(result), "scope", scope ? scope[1] : "");
    if (error && error[1] === "invalid_token") return refusalFromText(textOf(result), "signin");
    return refusalFromText(textOf(result) || "The server refused the change.");
  }

  // classify turns a refusal or a JSON-RPC error into a notice. Hosts do
  // not start sign-in from a widget's call, so the notice is the only guide.
  function classify(err) {
    if (err && err.refusal) return err;
    const message = String((err && err.message) || err || "");
    if (/\b401\b|unauthori[sz]ed|invalid_token|not signed in|sign in/i.test(message)) return refusalFromText(message, "signin");
    if (/\b403\b|forbidden|insufficient_scope/i.test(message)) return refusalFromText(message, "scope");
    return refusalFromText(message ? `The host could not complete the call: ${message}` : "The host could not complete the call.");
  }

  function showRefusal(err, what) {
    const r = classify(err);
    if (r.kind === "signin") {
      showNotice("signin", `${what}: you are not signed in to ${PRODUCT_NAME} here. Connect ${PRODUCT_NAME} in your assistant's app settings and sign in, then try again.`);
    } else if (r.kind === "scope") {
      const scope = r.scope.split(" ").find((s) => s) || WRITE_SCOPE;
      showNotice("scope", `${what}: this connection may only read your boards. Reconnect ${PRODUCT_NAME} and allow “${scope}” (change your boards), then try again.`);
    } else {
      showNotice("error", `${what}. ${r.text}`);
    }
  }

  function showNotice(kind, text) {
    const notice = $("notice");
    notice.dataset.kind = kind;
    $("notice-text").textContent = text;
    notice.hidden = false;
  }

  // hideNotice hides the notice, or only a notice of the given kind.
  function hideNotice(kind) {
    const notice = $("notice");
    if (kind && notice.dataset.kind !== kind) return;
    notice.hidden = true;
    delete notice.dataset.kind;
  }

  function announce(text) {
    $("live").textContent = text;
  }

  // ---- Tool data from the host. ----

  function isBoard(value) {
    return value && typeof value === "object" && typeof value.id === "string" && Array.isArray(value.columns) &&
      value.columns.every((c) => c && typeof c.id === "string" && Array.isArray(c.cards));
  }

  function showBoard(result) {
    const board = result.structuredContent;
    if (!isBoard(board)) {
      showPlaceholder("This result has no board to show.", "error");
      return;
    }
    state.confirmed = clone(board);
    state.boardId = board.id;
    const hints = result._meta && result._meta[RESULT_META_KEY];
    state.viewer = hints && hints.viewer && typeof hints.viewer === "object" ? hints.viewer : null;
    render();
  }

  function showPlaceholder(text, status) {
    const placeholder = $("placeholder");
    placeholder.textContent = text;
    placeholder.hidden = false;
    if (!state.confirmed) $("board").hidden = true;
    root.dataset.state = status;
    $("app").setAttribute("aria-busy", "false");
  }

  bridge.onNotification("ui/notifications/tool-input", (params) => {
    const args = params.arguments || {};
    if (typeof args.board_id === "string") state.boardId = args.board_id;
    if (!state.confirmed) showPlaceholder(args.title ? `Creating “${args.title}”…` : "Loading the board…", "waiting");
  });

  bridge.onNotification("ui/notifications/tool-result", (result) => {
    // Once a board is shown, hosts may also report the results of the
    // widget's own calls here; those are already handled where the call
    // was made. Only a board replaces the board, and not under pending
    // changes, which would otherwise be shown twice or lost.
    if (state.confirmed) {
      if (result.isError !== true && isBoard(result.structuredContent) && state.pending.length === 0) showBoard(result);
      return;
    }
    if (result.isError === true) {
      const r = refusalOf(result);
      showPlaceholder(r.kind === "signin" ? "Sign in to see this board." : r.kind === "scope" ? "This connection may not read this board." : r.text, "error");
      showRefusal(r, "The board could not be shown");
      return;
    }
    showBoard(result);
  });

  bridge.onNotification("ui/notifications/tool-cancelled", () => {
    if (!state.confirmed) showPlaceholder("The request was cancelled.", "error");
  });

  bridge.onNotification("ui/notifications/host-context-changed", applyHostContext);

  // Nothing to save at teardown: every change is sent as it is made.
  bridge.onRequest("ui/resource-teardown", () => ({}));

  $("refresh").addEventListener("click", refresh);
  $("notice-close").addEventListener("click", () => hideNotice());

  if (window.matchMedia) setTheme(window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  bridge.watchSize(root);
  bridge.connect().then((init) => {
    applyHostContext(init && init.hostContext);
    if (!state.confirmed) showPlaceholder("Loading the board…", "waiting");
  }, () => {
    showPlaceholder("This board is shown by an app host (ChatGPT, Claude or another MCP Apps host), which did not answer.", "error");
  });
})();
