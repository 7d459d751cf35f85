// The virtual service table: a summary strip, then one card per service with its real servers.
import {
  FORWARD_NAMES,
  formatCount,
  hostPort,
  schedulerName,
  serviceAddress,
  serviceKey,
  sortRealServers,
  sortServices,
  type IpvsTable,
  type RealServer,
  type Service,
} from "./format";

export function IpvsSummary({ table }: { table: IpvsTable }) {
  const realServers = table.services.flatMap((s) => s.realServers);
  const sum = (pick: (rs: RealServer) => number) => realServers.reduce((n, rs) => n + pick(rs), 0);
  const cells: [string, string, string?][] = [
    ["IPVS version", table.version],
    ["Connection table", formatCount(table.connTableSize), "hash buckets"],
    ["Virtual services", formatCount(table.services.length)],
    ["Real servers", formatCount(realServers.length)],
    ["Active connections", formatCount(sum((rs) => rs.activeConns))],
    ["Inactive connections", formatCount(sum((rs) => rs.inactiveConns))],
  ];
  return (
    <dl className="summary">
      {cells.map(([label, value, unit]) => (
        <div className="summary__cell" key={label}>
          <dt>{label}</dt>
          <dd>
            {value}
            {unit ? <span className="summary__unit"> {unit}</span> : null}
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function ServiceList({ services }: { services: readonly Service[] }) {
  if (services.length === 0) {
    return (
      <section className="empty">
        <h2>No virtual services yet</h2>
        <p>IPVS is loaded, but this kernel has no virtual services. Create one with ipvsadm, for example:</p>
        <pre>
          {"ipvsadm -A -t 192.0.2.100:80 -s wrr\nipvsadm -a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1"}
        </pre>
        <p>It appears here within two seconds.</p>
      </section>
    );
  }
  return (
    <div className="services">
      {sortServices(services).map((service) => (
        <ServiceCard key={serviceKey(service)} service={service} />
      ))}
    </div>
  );
}

function ServiceCard({ service }: { service: Service }) {
  const totalWeight = service.realServers.reduce((n, rs) => n + Math.max(rs.weight, 0), 0);
  const active = service.realServers.reduce((n, rs) => n + rs.activeConns, 0);
  const inactive = service.realServers.reduce((n, rs) => n + rs.inactiveConns, 0);
  const scheduler = schedulerName(service.scheduler);
  return (
    <article className="service">
      <header className="service__head">
        <span className="proto">{service.protocol}</span>
        <h3 className="service__addr">{serviceAddress(service)}</h3>
        <span className="pill" title={scheduler ?? undefined}>
          <b>{service.scheduler}</b>
          {scheduler ? <span className="pill__note"> {scheduler}</span> : null}
        </span>
        {service.persistent ? (
          <span className="pill pill--flag">
            persistent {service.persistent.timeout} s
            {service.persistent.netmask !== "255.255.255.255" && service.persistent.netmask !== "128"
              ? ` · mask ${service.persistent.netmask}`
              : ""}
          </span>
        ) : null}
        {service.onePacket ? <span className="pill pill--flag">one-packet scheduling</span> : null}
        <span className="service__totals">
          <b>{formatCount(active)}</b> active · <b>{formatCount(inactive)}</b> inactive
        </span>
      </header>
      {service.realServers.length === 0 ? (
        <p className="service__none">No real servers: every new connection to this service is dropped.</p>
      ) : (
        <table className="rs">
          <thead>
            <tr>
              <th className="col-addr">Real server</th>
              <th>Forwarding</th>
              <th className="num">Weight</th>
              <th className="share">Weight share</th>
              <th className="num">Active</th>
              <th className="num">Inactive</th>
            </tr>
          </thead>
          <tbody>
            {sortRealServers(service.realServers).map((rs) => (
              <RealServerRow key={hostPort(rs.address, rs.port, rs.family)} rs={rs} totalWeight={totalWeight} />
            ))}
          </tbody>
        </table>
      )}
    </article>
  );
}

function RealServerRow({ rs, totalWeight }: { rs: RealServer; totalWeight: number }) {
  const share = totalWeight > 0 ? Math.max(rs.weight, 0) / totalWeight : 0;
  const quiesced = rs.weight === 0;
  return (
    <tr className={quiesced ? "rs--quiesced" : undefined}>
      <td className="mono">
        {hostPort(rs.address, rs.port, rs.family)}
        {quiesced ? <span className="tag tag--muted">quiesced</span> : null}
      </td>
      <td>
        {FORWARD_NAMES[rs.forward]}
        {FORWARD_NAMES[rs.forward] !== rs.forward ? <span className="kernel-name">{rs.forward}</span> : null}
      </td>
      <td className="num">{rs.weight}</td>
      <td className="share">
        <div className="share__cell">
          <span className="bar" aria-hidden="true">
            <span className="bar__fill" style={{ width: `${(share * 100).toFixed(1)}%` }} />
          </span>
          <span className="bar__label">{(share * 100).toFixed(0)}%</span>
        </div>
      </td>
      <td className="num">{formatCount(rs.activeConns)}</td>
      <td className="num">{formatCount(rs.inactiveConns)}</td>
    </tr>
  );
}

export function ServicesSkeleton() {
  return (
    <div className="services" aria-busy="true" aria-label="Loading the virtual service table">
      {[0, 1].map((i) => (
        <article className="service service--skeleton" key={i}>
          <div className="skeleton skeleton--title" />
          <div className="skeleton" />
          <div className="skeleton" />
        </article>
      ))}
    </div>
  );
}
