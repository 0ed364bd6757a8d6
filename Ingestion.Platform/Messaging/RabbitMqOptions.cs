using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Messaging;

/// <summary>The broker. Bound from the <c>RabbitMq</c> configuration section.</summary>
public sealed class RabbitMqOptions : IValidatableObject
{
    public const string Section = "RabbitMq";

    [Required]
    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 5672;

    /// <summary>
    /// The nodes of a cluster, as <c>host:port</c>. When set, a connection goes to one of them and,
    /// when that node goes away, reconnects to the next; <see cref="Host"/> and <see cref="Port"/>
    /// then only name the cluster in logs and addresses.
    /// </summary>
    public string[] Nodes { get; set; } = [];

    /// <summary>
    /// <c>quorum</c> (replicated on every node of a cluster, survives a node's loss) or <c>classic</c>,
    /// for the service's own durable queues. A queue cannot change type in place: see the README.
    /// </summary>
    [Required]
    public string QueueType { get; set; } = QueueTypes.Quorum;

    [Required]
    public string VirtualHost { get; set; } = "/";

    [Required]
    public string Username { get; set; } = "guest";

    [Required]
    public string Password { get; set; } = "guest";

    /// <summary>Port of the management plugin's HTTP API (dead-letter tooling uses it).</summary>
    [Range(1, 65535)]
    public int ManagementPort { get; set; } = 15672;

    public bool Quorum => QueueType == QueueTypes.Quorum;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (QueueType is not (QueueTypes.Quorum or QueueTypes.Classic))
        {
            yield return new ValidationResult($"RabbitMq:QueueType must be '{QueueTypes.Quorum}' or '{QueueTypes.Classic}', not '{QueueType}'.",
                [nameof(QueueType)]);
        }

        foreach (var node in Nodes)
        {
            var parts = node.Split(':');
            if (parts.Length is not (1 or 2) || parts[0].Length == 0 || (parts.Length == 2 && !ushort.TryParse(parts[1], out _)))
            {
                yield return new ValidationResult($"RabbitMq:Nodes entry '{node}' is not 'host' or 'host:port'.", [nameof(Nodes)]);
            }
        }
    }
}

public static class QueueTypes
{
    public const string Quorum = "quorum";
    public const string Classic = "classic";
}
