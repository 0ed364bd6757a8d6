using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Messaging;

/// <summary>The broker. Bound from the <c>RabbitMq</c> configuration section.</summary>
public sealed class RabbitMqOptions
{
    public const string Section = "RabbitMq";

    [Required]
    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 5672;

    [Required]
    public string VirtualHost { get; set; } = "/";

    [Required]
    public string Username { get; set; } = "guest";

    [Required]
    public string Password { get; set; } = "guest";

    /// <summary>Port of the management plugin's HTTP API (dead-letter tooling uses it).</summary>
    [Range(1, 65535)]
    public int ManagementPort { get; set; } = 15672;
}
