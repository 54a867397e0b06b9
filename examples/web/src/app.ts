// The demo page: calls the Rust server through the generated clients and
// serves the server's calls through the generated interfaces.
//
// Every outcome is reported in the page: `#results` gets one
// `<li data-step data-ok data-value>` per step (`data-value` is JSON), and
// `#status[data-state]` says "connected", "done" or "failed". The headless
// browser test reads exactly these.

import { connect, RpcError, type Peer } from "duplexrpc";
import {
  CalculatorClient,
  EvaluatorClient,
  registerBrowser,
  registerScope,
  type Browser,
  type Expr,
  type Scope,
} from "./api.js";

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

const status = element<HTMLParagraphElement>("status");
const results = element<HTMLOListElement>("results");
const traffic = element<HTMLOListElement>("traffic");
const progressBar = element<HTMLProgressElement>("progress");
const numberInput = (id: string): number => Number(element<HTMLInputElement>(id).value);

function setStatus(state: string, text: string): void {
  status.dataset["state"] = state;
  status.textContent = text;
}

/** One line of the traffic log: `to` (page → server) or `from` (server → page). */
function logTraffic(direction: "to" | "from", text: string): void {
  const li = document.createElement("li");
  li.className = direction;
  li.textContent = `${direction === "to" ? "page → server" : "server → page"}  ${text}`;
  traffic.append(li);
}

/** Reports a step's outcome in `#results`. */
function report(step: string, ok: boolean, value: unknown): void {
  const li = document.createElement("li");
  li.dataset["step"] = step;
  li.dataset["ok"] = String(ok);
  li.dataset["value"] = JSON.stringify(value ?? null);
  li.textContent = `${step}: ${ok ? "" : "failed: "}${JSON.stringify(value ?? null)}`;
  results.append(li);
}

/** Runs a call, reporting its result or its error (code, message, data). */
async function step<T>(name: string, call: () => Promise<T>): Promise<void> {
  try {
    report(name, true, await call());
  } catch (e) {
    if (e instanceof RpcError) report(name, false, { code: e.code, message: e.message, data: e.data });
    else report(name, false, { error: String(e) });
  }
}

// ------------------------------------------------- what the server may call

/** Progress notifications of the current `sum`, in order. */
let progress: number[] = [];
/** Variables the server asked for. */
let lookups: string[] = [];

const browser: Browser = {
  confirm(question) {
    logTraffic("from", `ui.confirm(${JSON.stringify(question)})`);
    report("confirm-asked", true, question);
    return window.confirm(question);
  },
  progress(pct) {
    logTraffic("from", `ui.progress(${pct})`);
    progress.push(pct);
    progressBar.value = pct;
  },
};

const scope: Scope = {
  lookup(name) {
    lookups.push(name);
    const input = document.getElementById(name);
    const value = input instanceof HTMLInputElement && input.value !== "" ? Number(input.value) : null;
    logTraffic("from", `scope.lookup(${JSON.stringify(name)}) -> ${JSON.stringify(value)}`);
    return value;
  },
};

// ------------------------------------------------------- what the page calls

/** (x + 4) / y */
const expression: Expr = {
  op: "div",
  left: { op: "add", left: { op: "var", name: "x" }, right: { op: "num", value: 4 } },
  right: { op: "var", name: "y" },
};

function actions(calc: CalculatorClient, evaluator: EvaluatorClient) {
  return {
    async add() {
      const [a, b] = [numberInput("a"), numberInput("b")];
      logTraffic("to", `calc.add(${a}, ${b})`);
      await step("add", () => calc.add(a, b));
    },
    async divide() {
      const [a, b] = [numberInput("a"), numberInput("b")];
      logTraffic("to", `calc.divide(${a}, ${b})`);
      await step("divide", () => calc.divide(a, b));
    },
    async divideByZero() {
      logTraffic("to", "calc.divide(7, 0)");
      await step("divide-by-zero", () => calc.divide(7, 0));
    },
    async clear() {
      logTraffic("to", 'calc.clear("asked by the page")');
      await step("clear", () => calc.clear("asked by the page"));
    },
    async sum() {
      const n = numberInput("n");
      progress = [];
      logTraffic("to", `calc.sum_to(${n})`);
      await step("sum", () => calc.sumTo(n));
      report("progress", true, progress);
    },
    async log() {
      const line = element<HTMLInputElement>("line").value;
      logTraffic("to", `calc.log(${JSON.stringify(line)})  (notification)`);
      calc.log(line);
      report("log", true, line);
    },
    async eval() {
      lookups = [];
      logTraffic("to", "expr.eval((x + 4) / y)");
      await step("eval", () => evaluator.eval(expression));
      report("lookups", true, lookups);
    },
    async evalUnknown() {
      logTraffic("to", "expr.eval(z)");
      await step("eval-unknown", () => evaluator.eval({ op: "var", name: "z" }));
    },
    async summarize() {
      const values = element<HTMLInputElement>("values")
        .value.split(",")
        .map((v) => Number(v.trim()));
      logTraffic("to", `expr.summarize(${JSON.stringify(values)})`);
      await step("summarize", () => evaluator.summarize(values));
    },
    async concurrent() {
      logTraffic("to", "20 × calc.add at once");
      await step("concurrent", () => Promise.all(Array.from({ length: 20 }, (_, i) => calc.add(i, i))));
    },
  };
}

async function main(): Promise<void> {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="rpc-websocket"]');
  const url = meta?.content ?? "";
  let peer: Peer;
  try {
    peer = await connect(url);
  } catch (e) {
    setStatus("failed", `could not connect to ${url}: ${String(e)}`);
    return;
  }
  registerBrowser(peer, browser);
  registerScope(peer, scope);
  void peer.closed.then((info) => setStatus("failed", `disconnected (${info.code})`));
  setStatus("connected", `connected to ${url}`);

  const act = actions(new CalculatorClient(peer), new EvaluatorClient(peer));
  const buttons: Record<string, () => Promise<void>> = {
    add: act.add,
    divide: act.divide,
    clear: act.clear,
    sum: act.sum,
    log: act.log,
    eval: act.eval,
    summarize: act.summarize,
  };
  for (const [id, action] of Object.entries(buttons)) {
    element<HTMLButtonElement>(id).addEventListener("click", () => void action());
  }
  element<HTMLButtonElement>("run-all").addEventListener("click", () => {
    void (async () => {
      setStatus("running", "running everything…");
      for (const action of [
        act.add,
        act.divideByZero,
        act.clear,
        act.sum,
        act.log,
        act.eval,
        act.evalUnknown,
        act.summarize,
        act.concurrent,
      ]) {
        await action();
      }
      setStatus("done", "done: every call returned");
    })();
  });
}

void main();
