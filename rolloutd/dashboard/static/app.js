"use strict";
// The rolloutd dashboard page. No framework, no dependencies: the DOM, fetch and a small
// server-sent-events reader (fetch-based, because EventSource cannot send the bearer token
// of the in-cluster mode). Compiled by `tsc` into rolloutd/dashboard/static/app.js.
const ROOT = (document.body.dataset.root || "/rollouts/").replace(/\/?$/, "/");
const API = ROOT + "api/v1";
const TOKEN_KEY = "rolloutd.token";
const NS_KEY = "rolloutd.namespace";
class Unauthorized extends Error {
}
let currentStream = null;
let access = { mode: "none", user: "", canPatch: false };
function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs))
        el.setAttribute(key, value);
    for (const child of children) {
        if (child === null || child === undefined || child === false)
            continue;
        el.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return el;
}
function main() {
    return document.getElementById("main");
}
function toast(text, kind = "error") {
    const box = document.getElementById("toast");
    box.textContent = text;
    box.className = `toast ${kind}`;
    window.setTimeout(() => { if (box.textContent === text)
        box.className = "toast hidden"; }, 6000);
}
// -- API ------------------------------------------------------------------------------------
function headers(extra = {}) {
    const out = { "X-Rolloutd-CSRF": "1", ...extra };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token)
        out["Authorization"] = `Bearer ${token}`;
    return out;
}
async function api(path, method = "GET", body) {
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined)
        init.body = JSON.stringify(body);
    const response = await fetch(API + path, init);
    if (response.status === 401)
        throw new Unauthorized();
    const data = await response.json();
    if (!response.ok) {
        const message = (data && (data.message || data.error)) || response.statusText;
        throw new Error(response.status === 403 ? `Permission denied: ${message}` : message);
    }
    return data;
}
// Follows a server-sent-events stream, reconnecting after a pause when it ends or fails.
function stream(path, onMessage) {
    const control = new AbortController();
    const run = async () => {
        while (!control.signal.aborted) {
            try {
                const response = await fetch(API + path, {
                    headers: headers({ Accept: "text/event-stream" }),
                    signal: control.signal,
                });
                if (response.status === 401) {
                    showLogin();
                    return;
                }
                if (!response.ok || !response.body)
                    throw new Error(`stream answered ${response.status}`);
                const reader = response.body.getReader();
                const decoder = new TextDecoder();
                let buffer = "";
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done)
                        break;
                    buffer += decoder.decode(value, { stream: true });
                    let cut;
                    while ((cut = buffer.indexOf("\n\n")) >= 0) {
                        const frame = buffer.slice(0, cut);
                        buffer = buffer.slice(cut + 2);
                        const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
                        if (data)
                            onMessage(JSON.parse(data).result);
                    }
                }
            }
            catch (err) {
                if (control.signal.aborted)
                    return;
            }
            await new Promise((resolve) => window.setTimeout(resolve, 1000));
        }
    };
    void run();
    return control;
}
function follow(path, onMessage) {
    currentStream?.abort();
    currentStream = stream(path, onMessage);
}
// -- routing ----------------------------------------------------------------------------------
function navigate(path) {
    history.pushState(null, "", ROOT + path);
    void route();
}
function link(text, path, attrs = {}) {
    const a = h("a", { href: ROOT + path, ...attrs }, text);
    a.addEventListener("click", (event) => { event.preventDefault(); navigate(path); });
    return a;
}
async function route() {
    currentStream?.abort();
    const rest = location.pathname.startsWith(ROOT) ? location.pathname.slice(ROOT.length) : "";
    const parts = rest.split("/").filter((p) => p).map(decodeURIComponent);
    try {
        if (parts[0] === "rollout" && parts.length >= 3) {
            await showRollout(parts[1], parts[2]);
        }
        else {
            await showList(parts[0]);
        }
    }
    catch (err) {
        if (err instanceof Unauthorized)
            showLogin();
        else
            main().replaceChildren(h("p", { class: "error" }, String(err.message || err)));
    }
}
// -- login (token mode) -------------------------------------------------------------------
function showLogin() {
    currentStream?.abort();
    const input = h("textarea", { id: "token", rows: "4", placeholder: "kubectl create token <serviceaccount>", autocomplete: "off" });
    const button = h("button", { type: "submit", class: "primary" }, "Sign in");
    const form = h("form", { class: "login" }, h("h2", {}, "Sign in"), h("p", {}, "This dashboard acts as you: paste a Kubernetes bearer token. It is kept in this tab only."), input, button);
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        void route();
    });
    main().replaceChildren(form);
}
// -- confirmation -----------------------------------------------------------------------------
function confirmThen(question, action) {
    const dialog = document.getElementById("confirm");
    const yes = h("button", { class: "primary", "data-testid": "confirm-yes" }, "Confirm");
    const no = h("button", { "data-testid": "confirm-no" }, "Cancel");
    dialog.replaceChildren(h("div", { class: "dialog" }, h("p", {}, question), h("div", { class: "buttons" }, no, yes)));
    dialog.className = "overlay";
    const close = () => { dialog.className = "overlay hidden"; dialog.replaceChildren(); };
    no.addEventListener("click", close);
    yes.addEventListener("click", () => {
        close();
        action().catch((err) => {
            if (err instanceof Unauthorized)
                showLogin();
            else
                toast(String(err.message || err));
        });
    });
}
// -- the list ---------------------------------------------------------------------------------
function weightCell(info) {
    if (info.strategy !== "Canary")
        return h("td", {}, "-");
    const same = info.setWeight === info.actualWeight;
    return h("td", { "data-testid": "weight", class: same ? "" : "drift" }, `${info.setWeight}%`, same ? "" : ` (actual ${info.actualWeight}%)`);
}
function images(info) {
    const seen = new Set();
    for (const rs of info.replicaSets)
        if (rs.replicas > 0)
            rs.images.forEach((i) => seen.add(i));
    if (seen.size === 0)
        info.containers.forEach((c) => seen.add(c.image));
    return Array.from(seen).sort();
}
// Argo's pause icon (U+0965) is missing from common fonts; the page draws its own.
const PAGE_ICONS = { Paused: "‖" };
function statusBadge(info) {
    const icon = PAGE_ICONS[info.status] ?? info.icon;
    return h("span", { class: `status ${info.status.toLowerCase()}`, title: info.status }, `${icon} ${info.status}`);
}
function listRow(ns, info) {
    const name = info.objectMeta.name;
    return h("tr", { "data-testid": `row-${name}`, "data-status": info.status }, h("td", {}, statusBadge(info)), h("td", { class: "name" }, link(name, `rollout/${ns}/${name}`)), h("td", {}, info.strategy), h("td", { "data-testid": "step" }, info.step || "-"), weightCell(info), h("td", { class: "images" }, ...images(info).map((i) => h("div", {}, i))), h("td", { class: "message" }, info.message));
}
async function namespacePicker(ns) {
    const info = await api("/namespace");
    const select = h("select", { id: "namespace" });
    const names = new Set(info.availableNamespaces);
    names.add(ns);
    for (const name of Array.from(names).sort()) {
        const option = h("option", { value: name }, name);
        option.selected = name === ns;
        select.append(option);
    }
    select.addEventListener("change", () => { localStorage.setItem(NS_KEY, select.value); navigate(select.value); });
    return h("label", { class: "picker" }, "Namespace ", select);
}
async function defaultNamespace() {
    const saved = localStorage.getItem(NS_KEY);
    if (saved)
        return saved;
    return (await api("/namespace")).namespace;
}
async function showList(nsArg) {
    const ns = nsArg || (await defaultNamespace());
    localStorage.setItem(NS_KEY, ns);
    document.title = `Rollouts in ${ns}`;
    const body = h("tbody", {});
    const rows = new Map();
    const put = (info) => {
        const row = listRow(ns, info);
        const old = rows.get(info.objectMeta.name);
        if (old)
            old.replaceWith(row);
        else {
            const after = Array.from(rows.keys()).sort().find((n) => n > info.objectMeta.name);
            body.insertBefore(row, after ? rows.get(after) ?? null : null);
        }
        rows.set(info.objectMeta.name, row);
    };
    const list = await api(`/rollouts/${encodeURIComponent(ns)}/info`);
    list.rollouts.forEach(put);
    const empty = h("p", { class: "empty" }, `No rollouts in namespace ${ns}.`);
    const table = h("table", { class: "list" }, h("thead", {}, h("tr", {}, ...["Status", "Name", "Strategy", "Step", "Weight", "Images", "Message"].map((t) => h("th", {}, t)))), body);
    const refreshEmpty = () => { empty.hidden = rows.size > 0; };
    refreshEmpty();
    main().replaceChildren(h("div", { class: "toolbar" }, h("h2", {}, "Rollouts"), await namespacePicker(ns)), table, empty);
    follow(`/rollouts/${encodeURIComponent(ns)}/info/watch`, (event) => {
        if (event.type === "Deleted") {
            rows.get(event.rolloutInfo.objectMeta.name)?.remove();
            rows.delete(event.rolloutInfo.objectMeta.name);
        }
        else
            put(event.rolloutInfo);
        refreshEmpty();
    });
}
// -- one rollout -----------------------------------------------------------------------------
function stepText(step) {
    const [kind, value] = Object.entries(step)[0] ?? ["?", null];
    if (kind === "setWeight")
        return `Set weight ${value}%`;
    if (kind === "pause") {
        const duration = value?.duration;
        return duration !== undefined ? `Pause ${duration}${typeof duration === "number" ? "s" : ""}` : "Pause (until promoted)";
    }
    if (kind === "analysis")
        return "Analysis";
    if (kind === "experiment")
        return "Experiment";
    if (kind === "setCanaryScale")
        return `Canary scale ${JSON.stringify(value)}`;
    if (kind === "setHeaderRoute")
        return "Header route";
    if (kind === "setMirrorRoute")
        return "Mirror route";
    return kind;
}
function section(title, ...children) {
    return h("section", { class: "panel" }, h("h3", {}, title), ...children);
}
function stepsPanel(info) {
    if (info.strategy !== "Canary" || info.steps.length === 0)
        return null;
    const index = info.rolloutd?.currentStepIndex ?? 0;
    return section("Steps", h("ol", { class: "steps", "data-testid": "steps" }, ...info.steps.map((step, i) => {
        const state = i < index ? "done" : i === index ? "current" : "todo";
        return h("li", { class: state, "data-state": state }, i === index ? "▶ " : i < index ? "✔ " : "", stepText(step));
    })));
}
function weightsPanel(info) {
    if (info.strategy !== "Canary")
        return null;
    const weights = info.rolloutd?.weights;
    const verified = weights?.verified;
    const note = !weights || weights.destinations.length === 0
        ? "No traffic router: the weight is the share of available canary pods."
        : verified === true ? "✔ rolloutd read these weights back from the router after setting them."
            : verified === false ? "⚠ the router did not read back the weight rolloutd set." : "not verified";
    const rows = (weights?.destinations ?? []).map((d) => h("tr", { "data-testid": `dest-${d.role}` }, h("td", {}, d.role), h("td", {}, d.serviceName), h("td", { class: "num" }, `${d.desired}%`), h("td", { class: d.desired === d.actual ? "num" : "num drift" }, `${d.actual}%`)));
    return section("Traffic", h("p", {}, "Set weight ", h("b", { "data-testid": "set-weight" }, `${info.setWeight}%`), " · actual ", h("b", { "data-testid": "actual-weight" }, `${info.actualWeight}%`), weights && weights.routers.length ? ` · routers: ${weights.routers.join(", ")}` : ""), rows.length ? h("table", { class: "weights" }, h("thead", {}, h("tr", {}, h("th", {}, "Destination"), h("th", {}, "Service"), h("th", {}, "Desired"), h("th", {}, "Actual"))), h("tbody", {}, ...rows)) : null, h("p", { class: verified === false ? "drift" : "note", "data-testid": "verified" }, note));
}
function analysisBlock(run) {
    const results = run.specAndStatus.status.metricResults ?? [];
    return h("details", { class: "analysis" }, h("summary", {}, statusBadge(run), ` ${run.objectMeta.name} (✔ ${run.successful} ✖ ${run.failed} ? ${run.inconclusive} ⚠ ${run.error})`), run.specAndStatus.status.message ? h("p", {}, run.specAndStatus.status.message) : null, ...results.map((m) => h("div", {}, h("h4", {}, `${m.name}: ${m.phase ?? ""}`), h("table", { class: "measurements" }, h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Phase"), h("th", {}, "Value"))), h("tbody", {}, ...(m.measurements ?? []).map((x) => h("tr", {}, h("td", {}, x.startedAt ?? ""), h("td", {}, x.phase ?? ""), h("td", {}, x.value ?? x.message ?? ""))))))));
}
function revisionsPanel(ns, info, canAct) {
    const revisions = new Map();
    const entry = (r) => revisions.get(r) ?? revisions.set(r, { sets: [], runs: [] }).get(r);
    info.replicaSets.forEach((rs) => entry(rs.revision).sets.push(rs));
    info.analysisRuns.forEach((run) => entry(run.revision).runs.push(run));
    const newest = Math.max(0, ...Array.from(revisions.keys()));
    const name = info.objectMeta.name;
    const blocks = Array.from(revisions.entries()).sort((a, b) => b[0] - a[0]).map(([rev, { sets, runs }]) => {
        const rollback = canAct && rev !== newest ? h("button", { class: "small", "data-action": `undo-${rev}` }, "Rollback") : null;
        rollback?.addEventListener("click", () => confirmThen(`Roll ${name} back to revision ${rev}?`, async () => {
            await api(`/rollouts/${ns}/${name}/undo/${rev}`, "PUT", {});
            toast(`Rolled back to revision ${rev}`, "ok");
        }));
        return h("div", { class: "revision", "data-testid": `revision-${rev}` }, h("h4", {}, `Revision ${rev}`, rollback), ...sets.map((rs) => {
            const tags = ["stable", "canary", "active", "preview"].filter((t) => rs[t]);
            return h("div", { class: "rs" }, h("div", {}, statusBadge(rs), ` ${rs.objectMeta.name} `, ...tags.map((t) => h("span", { class: `tag ${t}` }, t)), ` ${rs.available}/${rs.replicas} available · ${rs.images.join(", ")}`), h("div", { class: "pods" }, ...rs.pods.map((p) => h("span", {
                class: `pod ${p.status.toLowerCase()}`, title: `${p.objectMeta.name}: ${p.status} ${p.ready}, ${p.restarts} restarts`,
            }, p.icon))));
        }), ...runs.map(analysisBlock));
    });
    return section("Revisions", ...blocks);
}
function containersPanel(ns, info, canAct) {
    const name = info.objectMeta.name;
    return section("Containers", ...info.containers.map((c) => {
        const input = h("input", { value: c.image, "aria-label": `image of ${c.name}`, size: "40" });
        const button = h("button", { class: "small" }, "Set image");
        button.addEventListener("click", () => {
            const image = input.value.trim();
            const colon = image.lastIndexOf(":");
            if (colon <= image.lastIndexOf("/") || colon === image.length - 1) {
                toast("the image needs a tag, e.g. repo/app:v2");
                return;
            }
            confirmThen(`Set ${c.name} of ${name} to ${image}?`, async () => {
                const path = image.slice(0, colon).split("/").map(encodeURIComponent).join("/");
                await api(`/rollouts/${ns}/${name}/set/${encodeURIComponent(c.name)}/${path}/${encodeURIComponent(image.slice(colon + 1))}`, "PUT", {});
                toast(`Image set to ${image}`, "ok");
            });
        });
        return h("div", { class: "container" }, h("b", {}, c.name), " ", canAct ? input : c.image, canAct ? button : null);
    }));
}
function actionButtons(ns, info) {
    const name = info.objectMeta.name;
    const active = info.status === "Progressing" || info.status === "Paused";
    const actions = [
        ["restart", "Restart", true, "restart", {}],
        ["retry", "Retry", info.status === "Degraded", "retry", {}],
        ["abort", "Abort", active, "abort", {}],
        ["promote", "Promote", active, "promote", { full: false }],
        ["promote-full", "Promote-Full", active, "promote", { full: true }],
    ];
    return h("div", { class: "actions" }, ...actions.map(([id, label, enabled, path, body]) => {
        const button = h("button", { "data-action": id, class: id === "promote" ? "primary" : "" }, label);
        button.disabled = !enabled;
        button.addEventListener("click", () => confirmThen(`${label} ${name}?`, async () => {
            await api(`/rollouts/${ns}/${name}/${path}`, "PUT", body);
            toast(`${label}: sent`, "ok");
        }));
        return button;
    }));
}
function renderRollout(ns, info) {
    const pause = info.rolloutd?.pauseConditions ?? [];
    const canAct = access.canPatch;
    return h("div", { class: "rollout", "data-testid": "rollout", "data-status": info.status }, h("div", { class: "toolbar" }, h("h2", {}, link("Rollouts", ns), " / ", info.objectMeta.name), canAct ? actionButtons(ns, info) : h("span", { class: "note", "data-testid": "read-only" }, `read-only${access.user ? ` (${access.user})` : ""}`)), h("div", { class: "summary" }, statusBadge(info), h("span", { "data-testid": "message" }, info.message), pause.length ? h("span", { class: "pause", "data-testid": "pause-reason" }, `paused: ${pause.map((p) => p.reason).join(", ")}`) : null), h("dl", { class: "facts" }, h("dt", {}, "Strategy"), h("dd", {}, info.strategy), info.step ? h("dt", {}, "Step") : null, info.step ? h("dd", { "data-testid": "step" }, info.step) : null, h("dt", {}, "Replicas"), h("dd", {}, `${info.desired} desired · ${info.current} current · ${info.updated} updated · ${info.ready} ready · ${info.available} available`), h("dt", {}, "Restarted"), h("dd", {}, info.restartedAt)), h("div", { class: "columns" }, h("div", {}, stepsPanel(info), weightsPanel(info)), h("div", {}, containersPanel(ns, info, canAct), revisionsPanel(ns, info, canAct))));
}
async function showRollout(ns, name) {
    document.title = `${name} · Rollouts`;
    access = await api(`/rolloutd/access/${encodeURIComponent(ns)}`);
    const info = await api(`/rollouts/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/info`);
    let version = info.objectMeta.resourceVersion;
    main().replaceChildren(renderRollout(ns, info));
    follow(`/rollouts/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/info/watch`, (next) => {
        version = next.objectMeta.resourceVersion;
        main().replaceChildren(renderRollout(ns, next));
    });
    void version;
}
window.addEventListener("popstate", () => void route());
void route();
