/** A promise-based IpfwService client (the `dfly ipfw` commands, tests): each call has a deadline and waits for the connection. */
import type { ServiceError, Metadata } from "@grpc/grpc-js";
import {
  IpfwServiceClient,
  type IpfwChangeResponse,
  type ListRulesResponse,
  type VerifyRulesResponse,
} from "./gen/dfly/netstack/v1/ipfw.js";
import { DEFAULT_CONTROL_ADDR } from "./client.js";
import { authMetadata, channelCredentialsOf, controlClientAuthFromEnv, type ControlClientAuth } from "./grpc_auth.js";

type Cb<Res> = (err: ServiceError | null, res: Res) => void;

export class IpfwClient {
  private readonly c: IpfwServiceClient;

  constructor(
    readonly addr: string = process.env.DFLY_CONTROL_ADDR ?? DEFAULT_CONTROL_ADDR,
    readonly deadlineMs = 10_000,
    /** CA, client certificate, token: as ControlClient, from the environment by default. */
    private readonly auth: ControlClientAuth = controlClientAuthFromEnv(),
  ) {
    this.c = new IpfwServiceClient(addr, channelCredentialsOf(auth), { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 1000 });
  }

  private call<Res>(method: string, req: object): Promise<Res> {
    const fn = (this.c as unknown as Record<string, (r: object, md: Metadata, o: object, cb: Cb<Res>) => void>)[method];
    return new Promise((res, rej) =>
      fn.call(this.c, req, authMetadata(this.auth, { waitForReady: true }), { deadline: Date.now() + this.deadlineMs }, (err, r) => (err ? rej(err) : res(r))),
    );
  }

  add(rules: string[]): Promise<IpfwChangeResponse> {
    return this.call("addRules", { rules });
  }
  delete(numbers: number[]): Promise<IpfwChangeResponse> {
    return this.call("deleteRules", { numbers });
  }
  flush(): Promise<IpfwChangeResponse> {
    return this.call("flush", {});
  }
  tableAdd(name: string, prefixes: string[]): Promise<IpfwChangeResponse> {
    return this.call("tableAdd", { name, prefixes });
  }
  tableDelete(name: string, prefixes: string[]): Promise<IpfwChangeResponse> {
    return this.call("tableDelete", { name, prefixes });
  }
  list(counters = false): Promise<ListRulesResponse> {
    return this.call("listRules", { counters });
  }
  verify(): Promise<VerifyRulesResponse> {
    return this.call("verifyRules", {});
  }
  close(): void {
    this.c.close();
  }
}
