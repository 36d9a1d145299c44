// Residents' FAQ chat: asks over /ws/qa/ (or POST /api/v1/qa/ask/ while the socket is not
// open), shows each answer with its FAQ entry, thumbs up/down, the hand-off link, emergency
// numbers, and staff answers as they arrive. A reply's buttons ("did you mean" choices and
// actions such as "Report it") send `{action, choice}` instead of text; once one is used, or the
// resident writes again, that reply's buttons are disabled. The conversation id and what was
// shown are kept in sessionStorage, so a reload resumes the same conversation. A signed-in
// user's request for a room is answered with free slots to book with one tap (showBooking).
// Every text from the server or the resident goes into the page with textContent, never HTML.
(function () {
  "use strict";
  const log = document.getElementById("chat-log");
  if (!log) return;
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const label = document.getElementById("chat-label");
  const send = document.getElementById("chat-send");
  const skip = document.getElementById("chat-skip");
  const restart = document.getElementById("chat-new");
  const status = document.getElementById("chat-status");
  const suggest = document.getElementById("chat-suggest");
  const hello = document.getElementById("chat-hello");

  const STORE_ID = "qa.conversation";
  const STORE_LOG = "qa.transcript";
  const KEEP = 100; // lines kept for a reload
  const OPEN_WAIT_MS = 3000;

  const WORDS = {
    en: {
      you: "You", bot: "Assistant", staff: "Campus staff", from: "From the FAQ: ",
      match: "match", helpful: "Helpful", unhelpful: "Not helpful", thanks: "Thanks for the feedback.",
      handoff: "Private link to the answer (keep it to yourself): ", emergency: "Emergency",
      call: "Call", security: "Campus security", incident: "Incident #",
      where: "Where is it? (building, floor, room)", contact: "Phone or e-mail (optional)",
      question: "Your question", thinking: "Looking for an answer…", error: "Could not send: ",
      dropped: "The connection dropped before the answer arrived; please ask again.",
      crisis: "Crisis line (24 h, free)", didYouMean: "Did you mean", options: "Answers",
      orThese: "Or is it one of these questions?",
      choice: "Pick one above, or ask in other words", confirm: "Tap an answer above, or write here",
      rooms: "Free rooms", seats: "seats", approval: "needs approval", booking: "Booking…",
      booked: "Booked: ", pendingApproval: "Asked for, waiting for approval: ",
      taken: "Free times of the same room:", takenShort: "That time was just taken.", takenNone: "That time was just taken; ask again for other times.",
    },
    zh: {
      you: "您", bot: "助手", staff: "校园工作人员", from: "相关问答：",
      match: "匹配度", helpful: "有帮助", unhelpful: "没帮助", thanks: "谢谢您的反馈。",
      handoff: "查看回复的专属链接（请勿分享）：", emergency: "紧急情况",
      call: "拨打", security: "校园保卫处", incident: "事件编号 #",
      where: "具体在哪里？（楼栋、楼层、房间）", contact: "电话或邮箱（可不填）",
      question: "您的问题", thinking: "正在查找答案…", error: "发送失败：",
      dropped: "连接中断，未收到回复，请再问一次。",
      crisis: "心理援助热线（24 小时，免费）", didYouMean: "您是想问", options: "选项",
      orThese: "或者您想问的是：",
      choice: "请选择上面的一项，或换个说法再问", confirm: "请点选上面的回答，或在这里输入",
      rooms: "空闲房间", seats: "座", approval: "需审批", booking: "正在预订…",
      booked: "已预订：", pendingApproval: "已提交，等待审批：",
      taken: "同一房间的空闲时间：", takenShort: "这个时间刚被别人订了。", takenNone: "这个时间刚被别人订了，请再问一次其他时间。",
    },
  };
  let language = document.documentElement.lang === "zh" ? "zh" : "en";
  function t(key) { return (WORDS[language] || WORDS.en)[key]; }

  let conversation = null;
  let transcript = [];
  try {
    conversation = sessionStorage.getItem(STORE_ID);
    transcript = JSON.parse(sessionStorage.getItem(STORE_LOG) || "[]");
    if (!Array.isArray(transcript)) transcript = [];
  } catch (e) { transcript = []; }

  // --- DOM helpers: text only --------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeHref(url) {
    // Only this site's paths and http(s) addresses become links.
    if (typeof url !== "string" || !url) return null;
    try {
      const parsed = new URL(url, location.href);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
      return parsed.href;
    } catch (e) { return null; }
  }

  function link(url, text, external) {
    const href = safeHref(url);
    if (!href) return document.createTextNode(text);
    const a = el("a", null, text);
    a.href = href;
    if (external || new URL(href).origin !== location.origin) {
      a.rel = "nofollow noopener noreferrer";
      a.target = "_blank";
    }
    return a;
  }

  // Answers are Markdown; the chat shows them as text: line breaks kept, [text](url) and bare
  // http(s) addresses as links, **bold** as bold, list markers as bullets. No HTML is parsed.
  const INLINE = /\[([^\]\n]{1,200})\]\(((?:https?:\/\/|\/(?!\/))[^\s)]{0,500})\)|\*\*([^*\n]{1,200})\*\*|(https?:\/\/[^\s<>"'()\]]+[^\s<>"'()\].,;:!?])/g;

  function inline(parent, text) {
    let at = 0;
    INLINE.lastIndex = 0;
    let m;
    while ((m = INLINE.exec(text)) !== null) {
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      if (m[1] !== undefined) parent.appendChild(link(m[2], m[1]));
      else if (m[3] !== undefined) parent.appendChild(el("strong", null, m[3]));
      else parent.appendChild(link(m[4], m[4], true));
      at = INLINE.lastIndex;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }

  const TABLE_RULE = /^\s*\|?(\s*:?-{3,}:?\s*\|)+\s*:?-{0,}:?\s*$/;
  const TABLE_ROW = /^\s*\|(.*)\|\s*$/;

  function richText(text) {
    const box = el("div", "msg-text");
    String(text || "").split("\n").filter(function (raw) {
      return !TABLE_RULE.test(raw); // a table's |---|---| line
    }).forEach(function (raw, i) {
      if (i > 0) box.appendChild(el("br"));
      let line = raw.replace(/^#{1,6}\s+/, "");
      const row = TABLE_ROW.exec(line);
      if (row) line = row[1].split("|").map(function (c) { return c.trim(); }).join(" · ");
      const bullet = /^\s*[-*+]\s+/.exec(line);
      if (bullet) { box.appendChild(document.createTextNode("• ")); line = line.slice(bullet[0].length); }
      inline(box, line);
    });
    return box;
  }

  // "110 / 119 / 120" is three numbers. A tel: link gets the digits only (and a leading "+"),
  // so nothing but a number can ever be dialled from server text.
  function phones(text) {
    return String(text || "").split(/[/,;、]| or |或/).map(function (part) {
      const shown = part.trim();
      const digits = shown.replace(/\D/g, "");
      return { text: shown, tel: digits && (shown.charAt(0) === "+" ? "+" : "") + digits };
    }).filter(function (p) { return p.text && p.tel; });
  }

  function phoneLinks(parent, text, words) {
    phones(text).forEach(function (p, i) {
      if (i > 0) parent.appendChild(document.createTextNode(" / "));
      const a = el("a", "tel", p.text);
      a.href = "tel:" + p.tel;
      a.setAttribute("aria-label", words.call + " " + p.text);
      parent.appendChild(a);
    });
  }

  function numbersLine(box, label, text, words) {
    if (!phones(text).length) return;
    const line = el("p", "sos-numbers");
    line.appendChild(el("span", "sos-label", label + " "));
    phoneLinks(line, text, words);
    box.appendChild(line);
  }

  // The numbers come first in an emergency reply and stay pinned to the top of the chat while
  // the reply is in view (CSS: sticky), above however long the answer under them is.
  function emergencyBox(numbers, words) {
    const box = el("div", "sos-box");
    numbersLine(box, words.crisis, numbers.crisis, words); // self-harm: the crisis line first
    numbersLine(box, words.call, numbers.emergency, words);
    numbersLine(box, words.security, numbers.security, words);
    return box;
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // --- rendering ---------------------------------------------------------------------------

  function bubble(role, speaker, lang) {
    const item = el("article", "msg msg-" + role);
    if (lang) item.lang = lang;
    item.appendChild(el("h3", "msg-who", speaker));
    return item;
  }

  function showResident(line) {
    const item = bubble("resident", WORDS[line.lang] ? WORDS[line.lang].you : t("you"));
    item.appendChild(el("p", "msg-text plain", line.text));
    log.appendChild(item);
  }

  // `live`: the reply just arrived (not replayed after a reload); only then is it an alert.
  function showAnswer(line, live) {
    const r = line.reply;
    const lang = r.language === "zh" ? "zh" : "en";
    const words = WORDS[lang];
    const emergency = r.emergency && typeof r.emergency === "object" ? r.emergency : null;
    const item = bubble(emergency ? "emergency" : "bot", emergency ? words.emergency : words.bot, lang);
    if (emergency) {
      if (live) item.setAttribute("role", "alert");
      item.appendChild(emergencyBox(emergency, words));
    }
    if (r.handed_off) item.classList.add("msg-handoff");
    item.appendChild(richText(r.answer));
    if (r.faq_title) {
      const source = el("p", "msg-source");
      source.appendChild(document.createTextNode(words.from));
      source.appendChild(r.faq_url ? link(r.faq_url, r.faq_title) : document.createTextNode(r.faq_title));
      item.appendChild(source);
    }
    if (r.handoff_url) {
      const secret = el("p", "msg-private");
      secret.appendChild(document.createTextNode(words.handoff));
      secret.appendChild(link(r.handoff_url, new URL(r.handoff_url, location.href).href));
      item.appendChild(secret);
    }
    const options = optionButtons(line, words, lang);
    if (options) item.appendChild(options);
    if (r.incident) item.appendChild(el("p", "msg-meta", words.incident + r.incident));
    if (r.faq_id && r.message_id) item.appendChild(feedbackBar(line, words));
    if (typeof r.confidence === "number" && r.faq_id) {
      item.appendChild(el("p", "msg-meta msg-confidence", words.match + " " + Math.round(r.confidence * 100) + " %"));
    }
    log.appendChild(item);
    if (r.suggestions && r.suggestions.length) showSuggestions(r.suggestions, lang);
    return emergency ? item : null;
  }

  // A reply's buttons: "did you mean" entries (action "pick"), then its actions. `line.used`
  // is the key of the button tapped, or true once the resident moved on without one.
  function optionButtons(line, words, lang) {
    const r = line.reply;
    const choices = (Array.isArray(r.choices) ? r.choices : []).filter(function (c) {
      return c && Number.isInteger(c.faq_id) && c.faq_id > 0 && typeof c.title === "string" && c.title;
    });
    const actions = (Array.isArray(r.actions) ? r.actions : []).filter(function (a) {
      return a && typeof a.action === "string" && typeof a.label === "string" && a.label;
    });
    if (!choices.length && !actions.length) return null;
    const group = el("div", "msg-options");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", choices.length ? words.didYouMean : words.options);
    function button(cls, text, key, payload) {
      const b = el("button", cls, text);
      b.type = "button";
      b.lang = lang;
      b.dataset.key = key;
      if (line.used) {
        b.disabled = true;
        if (line.used === key) b.classList.add("chosen");
      }
      b.addEventListener("click", function () { tap(line, payload, text, key, b); });
      return b;
    }
    let list = null;
    if (choices.length) {
      list = el("ul", "msg-choices");
      choices.forEach(function (c) {
        const li = el("li");
        li.appendChild(button("choice-btn", c.title, "pick:" + c.faq_id, { action: "pick", choice: c.faq_id }));
        list.appendChild(li);
      });
    }
    let row = null;
    if (actions.length) {
      row = el("div", "msg-actions");
      actions.forEach(function (a) {
        const cls = "action-btn action-" + a.action.replace(/[^a-z_-]/g, "");
        row.appendChild(button(cls, a.label, a.action, { action: a.action }));
      });
    }
    if (list && row && r.asks !== "choice") {
      // "Report it?" comes first; the entries it may also be a question about come second.
      group.setAttribute("aria-label", words.options);
      group.appendChild(row);
      group.appendChild(el("p", "msg-options-title", words.orThese));
      group.appendChild(list);
    } else {
      if (list) group.appendChild(list);
      if (row) group.appendChild(row);
    }
    return group;
  }

  function feedbackBar(line, words) {
    const bar = el("div", "msg-feedback");
    const done = el("span", "msg-thanks", line.feedback ? words.thanks : "");
    [[1, words.helpful], [-1, words.unhelpful]].forEach(function (choice) {
      const button = el("button", "thumb-btn");
      button.appendChild(thumb(choice[0] < 0));
      button.type = "button";
      button.setAttribute("aria-label", choice[1]);
      button.title = choice[1];
      button.setAttribute("aria-pressed", String(line.feedback === choice[0]));
      button.dataset.value = String(choice[0]);
      button.addEventListener("click", function () {
        line.feedback = choice[0];
        bar.querySelectorAll("button").forEach(function (b) {
          b.setAttribute("aria-pressed", String(Number(b.dataset.value) === choice[0]));
        });
        done.textContent = words.thanks;
        save();
        sendFeedback(line.reply, choice[0]);
      });
      bar.appendChild(button);
    });
    bar.appendChild(done);
    return bar;
  }

  // A thumb drawn in SVG (Material Icons' thumb_up, Apache 2.0): no emoji font needed.
  const THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function thumb(down) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", THUMB);
    if (down) path.setAttribute("transform", "rotate(180 12 12)");
    svg.appendChild(path);
    return svg;
  }

  function showStaff(line) {
    const item = bubble("staff", t("staff"));
    item.appendChild(richText(line.text));
    log.appendChild(item);
  }

  function showNotice(line) {
    const item = el("p", "msg-notice" + (line.error ? " msg-error" : ""), line.text);
    if (line.error) item.setAttribute("role", "alert");
    log.appendChild(item);
  }

  function show(line, live) {
    if (hello) hello.hidden = true;
    let alarm = null;
    if (line.kind === "resident") showResident(line);
    else if (line.kind === "answer") alarm = showAnswer(line, live);
    else if (line.kind === "booking") showBooking(line);
    else if (line.kind === "staff") showStaff(line);
    else showNotice(line);
    scrollDown();
    // The log shows the reply's end and its numbers stick to the log's top; on a phone the
    // page may be scrolled past the log's top, so bring the numbers onto the screen too.
    if (alarm && live) alarm.querySelector(".sos-box").scrollIntoView({ block: "nearest" });
  }

  function record(line, keep) {
    show(line, true);
    if (keep === false) return;
    transcript.push(line);
    if (transcript.length > KEEP) transcript = transcript.slice(-KEEP);
    save();
  }

  function save() {
    try {
      if (conversation) sessionStorage.setItem(STORE_ID, conversation);
      sessionStorage.setItem(STORE_LOG, JSON.stringify(transcript));
    } catch (e) { /* private mode or full: the chat still works, it just won't survive a reload */ }
  }

  function showSuggestions(items, lang) {
    const list = suggest.querySelector("ul");
    while (list.firstChild) list.removeChild(list.firstChild);
    items.slice(0, 6).forEach(function (text) {
      const li = el("li");
      const chip = el("button", "chip", text);
      chip.type = "button";
      chip.dataset.question = text;
      if (lang) chip.lang = lang;
      li.appendChild(chip);
      list.appendChild(li);
    });
    suggest.hidden = items.length === 0;
  }

  // --- booking a room by asking -------------------------------------------------------------
  // A signed-in user's request for a room comes back as `{type: "booking", slots: [...]}`; a
  // tap books the slot through the scheduling API (session and CSRF token) and shows what it
  // answered: booked, waiting for approval, taken (with the room's next free times to tap), or
  // the refusal's reason.

  function showBooking(line) {
    const r = line.reply;
    const lang = r.language === "zh" ? "zh" : "en";
    const words = WORDS[lang];
    const item = bubble("bot", words.bot, lang);
    item.classList.add("msg-booking");
    item.appendChild(richText(r.answer));
    const slots = (Array.isArray(r.slots) ? r.slots : []).filter(function (s) {
      return s && Number.isInteger(s.resource) && typeof s.start === "string" && typeof s.end === "string";
    });
    if (slots.length) {
      const group = el("div", "msg-options");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", words.rooms);
      const list = el("ul", "msg-choices");
      slots.forEach(function (slot, i) {
        const key = "slot:" + i;
        let text = String(slot.name || "") + " · " + slotLabel(slot, r, lang);
        if (slot.capacity) text += " · " + slot.capacity + " " + words.seats;
        if (slot.approval) text += " · " + words.approval;
        const b = el("button", "choice-btn slot-btn", text);
        b.type = "button";
        b.lang = lang;
        b.dataset.key = key;
        if (line.used) {
          b.disabled = true;
          if (line.used === key) b.classList.add("chosen");
        }
        b.addEventListener("click", function () { book(line, slot, key, b, item); });
        const li = el("li");
        li.appendChild(b);
        list.appendChild(li);
      });
      group.appendChild(list);
      item.appendChild(group);
    }
    if (line.result) item.appendChild(el("p", "msg-meta" + (line.failed ? " msg-error" : ""), line.result));
    log.appendChild(item);
  }

  function slotLabel(slot, reply, lang) {
    if (typeof slot.label === "string" && slot.label) return slot.label;
    // Suggestions after a conflict come as UTC instants: shown on the campus clock.
    try {
      const options = { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
      if (reply.time_zone) options.timeZone = reply.time_zone;
      const format = new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", options);
      const end = new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: options.timeZone });
      return format.format(new Date(slot.start)) + "–" + end.format(new Date(slot.end));
    } catch (e) { return slot.start + " – " + slot.end; }
  }

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field && field.value) return field.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function book(line, slot, key, button, item) {
    if (send.disabled || line.used) return;
    const r = line.reply;
    const lang = r.language === "zh" ? "zh" : "en";
    const words = WORDS[lang];
    retire(line, key);
    button.classList.add("chosen");
    busy(true);
    status.textContent = words.booking;
    let response = null;
    let body = null;
    try {
      response = await fetch("/api/v1/scheduling/bookings/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ resource: slot.resource, title: r.title || "Chat booking", start: slot.start, end: slot.end }),
      });
      try { body = await response.json(); } catch (e) { body = null; }
    } catch (e) {
      body = { detail: String(e.message || e) };
    }
    busy(false);
    const what = String(slot.name || "") + " · " + slotLabel(slot, r, lang);
    let suggestions = [];
    if (response && response.status === 201 && body) {
      line.result = (body.status === "pending" ? words.pendingApproval : words.booked) + what;
      line.failed = false;
    } else if (response && response.status === 409) {
      suggestions = (body && Array.isArray(body.suggestions) ? body.suggestions : []).map(function (s) {
        return { resource: slot.resource, name: slot.name, capacity: slot.capacity, approval: slot.approval, start: s.start, end: s.end };
      });
      line.result = suggestions.length ? words.takenShort : words.takenNone;
      line.failed = true;
    } else {
      line.result = t("error") + (errorText(body) || ("HTTP " + (response ? response.status : "?")));
      line.failed = true;
    }
    save();
    const note = el("p", "msg-meta" + (line.failed ? " msg-error" : ""), line.result);
    note.setAttribute("role", "status");
    item.appendChild(note);
    // The room's next free times of the same length, as a reply of their own to tap.
    if (suggestions.length) record({ kind: "booking", reply: Object.assign({}, r, { answer: words.taken, slots: suggestions }) });
    scrollDown();
  }

  function onBooking(reply) {
    busy(false);
    language = reply.language === "zh" ? "zh" : "en";
    record({ kind: "booking", reply: reply });
    setAsks(null, language);
    input.focus();
  }

  // --- the report flow and the input -------------------------------------------------------

  let asking = null; // what the service waits for: "location", "contact", "choice", … or null

  function setAsks(asks, lang) {
    asking = asks || null;
    const words = WORDS[lang] || WORDS.en;
    label.textContent = asking === "location" ? words.where : asking === "contact" ? words.contact : words.question;
    input.placeholder = {
      location: words.where,
      contact: words.contact,
      choice: words.choice,
      report_confirm: words.confirm,
      danger_confirm: words.confirm,
    }[asking] || "";
    skip.hidden = asking !== "contact";
  }

  // The buttons of every reply shown so far stop working: the resident tapped one (`key`, on
  // `tapped`) or wrote a new message, and the service only acts on its last question.
  function retire(tapped, key) {
    transcript.forEach(function (line) {
      if ((line.kind === "answer" || line.kind === "booking") && !line.used) line.used = line === tapped ? key : true;
    });
    log.querySelectorAll(".msg-options button:not(:disabled)").forEach(function (b) { b.disabled = true; });
    save();
  }

  function tap(line, payload, text, key, button) {
    if (send.disabled || line.used) return;
    retire(line, key);
    button.classList.add("chosen");
    record({ kind: "resident", text: text, lang: line.reply.language === "zh" ? "zh" : "en" });
    suggest.hidden = true;
    deliver(Object.assign({ conversation: line.reply.conversation || conversation }, payload));
  }

  function busy(on) {
    send.disabled = on;
    form.setAttribute("aria-busy", String(on));
    status.textContent = on ? t("thinking") : "";
  }

  // --- transport ---------------------------------------------------------------------------

  let ws = null;
  let wsOpen = false;
  let attempt = 0;
  let pending = null; // a question sent over the socket and not answered yet
  let resuming = false; // the stored conversation may be gone (or another browser's)

  function connect() {
    if (!("WebSocket" in window)) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let socket;
    try { socket = new WebSocket(scheme + location.host + "/ws/qa/"); } catch (e) { return; }
    ws = socket;
    socket.onopen = function () {
      wsOpen = true;
      attempt = 0;
      document.body.dataset.chat = "socket";
      if (conversation) {
        resuming = true;
        socket.send(JSON.stringify({ type: "resume", conversation: conversation }));
      }
    };
    socket.onmessage = function (event) {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "answer") { pending = null; onReply(msg); }
      else if (msg.type === "booking") { pending = null; onBooking(msg); }
      else if (msg.type === "staff") record({ kind: "staff", text: String(msg.text || "") });
      else if (msg.type === "error" && resuming && !pending) {
        resuming = false; // not ours to follow any more: the next question starts afresh
        conversation = null;
        try { sessionStorage.removeItem(STORE_ID); } catch (e) { /* ignore */ }
      }
      else if (msg.type === "error") { if (pending) { pending = null; busy(false); } onError(msg.error, msg.retry_after); }
      else if (msg.type === "resumed") resuming = false;
    };
    socket.onclose = function () {
      const wasOpen = wsOpen;
      wsOpen = false;
      ws = null;
      document.body.dataset.chat = "http";
      if (pending) { pending = null; busy(false); record({ kind: "notice", error: true, text: t("dropped") }, false); }
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      if (wasOpen || attempt < 8) setTimeout(connect, delay);
    };
  }

  function whenOpen(timeoutMs) {
    return new Promise(function (resolve) {
      if (wsOpen) { resolve(true); return; }
      const started = Date.now();
      (function wait() {
        if (wsOpen) resolve(true);
        else if (!ws || Date.now() - started > timeoutMs) resolve(false);
        else setTimeout(wait, 50);
      })();
    });
  }

  function ask(question) {
    const text = question.trim();
    if (!text || send.disabled) return;
    retire(null, null);
    record({ kind: "resident", text: text, lang: /[\u3400-\u9fff]/.test(text) ? "zh" : language });
    suggest.hidden = true; // they were for starting; a chit-chat reply brings new ones
    input.value = "";
    deliver(conversation ? { question: text, conversation: conversation } : { question: text });
  }

  // A message or a tap: over the socket when it opens in time, else over HTTP.
  async function deliver(body) {
    busy(true);
    if (await whenOpen(OPEN_WAIT_MS)) {
      pending = body;
      ws.send(JSON.stringify(Object.assign({ type: "ask" }, body)));
      return;
    }
    try {
      const response = await fetch("/api/v1/qa/ask/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      let answer = null;
      try { answer = await response.json(); } catch (e) { answer = null; }
      if (response.ok && answer) { onReply(answer); return; }
      busy(false);
      const retry = Number(response.headers.get("Retry-After")) || null;
      onError(errorText(answer) || ("HTTP " + response.status), retry);
    } catch (e) {
      busy(false);
      onError(String(e.message || e), null);
    }
  }

  function errorText(body) {
    if (!body || typeof body !== "object") return "";
    if (typeof body.detail === "string") return body.detail;
    for (const key in body) {
      const value = body[key];
      if (Array.isArray(value) && value.length) return String(value[0]);
      if (typeof value === "string") return value;
    }
    return "";
  }

  function onReply(reply) {
    busy(false);
    if (reply.conversation && reply.conversation !== conversation) {
      conversation = String(reply.conversation);
      if (wsOpen) ws.send(JSON.stringify({ type: "resume", conversation: conversation }));
    }
    language = reply.language === "zh" ? "zh" : "en";
    record({ kind: "answer", reply: reply, feedback: null });
    setAsks(reply.asks, language);
    if (!reply.emergency) input.focus();
    else if (window.matchMedia && matchMedia("(pointer: coarse)").matches) input.blur(); // the keyboard would cover the numbers
  }

  function onError(text, retryAfter) {
    let message = t("error") + String(text || "");
    if (retryAfter) message += " (" + retryAfter + " s)";
    record({ kind: "notice", error: true, text: message }, false);
  }

  function sendFeedback(reply, value) {
    const payload = { conversation: reply.conversation, message: reply.message_id, value: value };
    if (wsOpen) {
      ws.send(JSON.stringify(Object.assign({ type: "feedback" }, payload)));
      return;
    }
    fetch("/api/v1/qa/feedback/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    }).catch(function () { /* feedback is best effort */ });
  }

  // --- events ------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ask(input.value);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault(); // IME users confirm characters with Enter: isComposing guards them
      ask(input.value);
    }
  });
  skip.addEventListener("click", function () { ask(language === "zh" ? "跳过" : "skip"); });
  suggest.addEventListener("click", function (event) {
    const chip = event.target.closest("button.chip");
    if (chip) ask(chip.dataset.question || chip.textContent);
  });
  restart.addEventListener("click", function () {
    conversation = null;
    transcript = [];
    try { sessionStorage.removeItem(STORE_ID); sessionStorage.removeItem(STORE_LOG); } catch (e) { /* ignore */ }
    log.querySelectorAll(".msg, .msg-notice").forEach(function (node) { node.remove(); });
    if (hello) hello.hidden = false;
    suggest.hidden = !suggest.querySelector("li");
    setAsks(null, language);
    // The socket still follows the old conversation's staff answers: start a fresh one.
    if (ws) { attempt = 0; ws.close(); }
    input.focus();
  });

  const last = transcript.filter(function (l) { return l.kind === "answer"; }).pop();
  const lastReply = transcript.filter(function (l) { return l.kind === "answer" || l.kind === "booking"; }).pop();
  transcript.forEach(function (line) {
    if ((line.kind === "answer" || line.kind === "booking") && line !== lastReply && !line.used) line.used = true; // only the last may act
    show(line, false);
  });
  if (transcript.length) suggest.hidden = true;
  if (last) { language = last.reply.language === "zh" ? "zh" : "en"; setAsks(last.reply.asks, language); }
  document.body.dataset.chat = "http";
  connect();
})();
