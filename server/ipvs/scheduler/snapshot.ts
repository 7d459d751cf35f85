// From the kernel's netlink view of a service (IpvsClient.snapshot(), in the kernel's own list order: NOT the
// ipvsadm-sorted order of server/ipvs/snapshot/, which would change ties, the wrr cycle and the sh table) to
// the explainer's input.
import { isFwmarkService, type ServiceWithDestinations } from "@/server/ipvs/netlink/types";

import type { SchedService } from "./explain";

export function schedServiceFromNetlink(s: ServiceWithDestinations): SchedService {
  const svc = s.service;
  return {
    scheduler: s.scheduler,
    sched1: s.flags.sched1,
    sched2: s.flags.sched2,
    persistent: s.flags.persistent,
    ...(isFwmarkService(svc) ? { fwmark: svc.fwmark } : { address: svc.address }),
    destinations: s.destinations.map((d) => ({
      address: d.address,
      port: d.port,
      weight: d.weight,
      activeConns: d.activeConns,
      inactiveConns: d.inactiveConns,
      persistentConns: d.persistentConns,
      upperThreshold: d.upperThreshold,
      lowerThreshold: d.lowerThreshold,
    })),
  };
}
