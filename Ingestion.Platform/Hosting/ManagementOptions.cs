using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Hosting;

/// <summary>
/// Where health checks and Prometheus metrics are served: a listener of their own, apart from
/// the public API, so that a firewall or a Kubernetes network policy can keep them inside.
/// Bound from the <c>Management</c> section.
/// </summary>
public sealed class ManagementOptions
{
    public const string Section = "Management";

    /// <summary>
    /// What Kestrel listens on for <c>/health/*</c> and <c>/metrics</c>, as in <c>Urls</c>
    /// (<c>http://+:9090</c>; several separated by <c>;</c>). Its ports must differ from the public ones.
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    public string Urls { get; set; } = "";

    /// <summary>
    /// How long gauges read from PostgreSQL and RabbitMQ at a scrape are reused: a burst of
    /// scrapes (several Prometheus servers, a dashboard refreshing) costs one read per interval.
    /// </summary>
    public TimeSpan GaugeInterval { get; set; } = TimeSpan.FromSeconds(10);
}
