namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// The real PostgreSQL, RabbitMQ and S3 servers the end-to-end tests run against, and
/// how to take the broker down and up again for outage tests.
/// </summary>
public sealed record Servers(
    string PostgresHost,
    int PostgresPort,
    string PostgresUser,
    string PostgresPassword,
    string RabbitHost,
    int RabbitPort,
    int RabbitManagementPort,
    string RabbitUser,
    string RabbitPassword,
    string S3Url,
    string S3AccessKey,
    string S3SecretKey,
    IBrokerControl Broker)
{
    public string PostgresConnectionString(string database) =>
        $"Host={PostgresHost};Port={PostgresPort};Database={database};Username={PostgresUser};Password={PostgresPassword};Include Error Detail=true";
}

public interface IBrokerControl
{
    /// <summary>Stops the broker's application: every connection drops and nothing is accepted.</summary>
    Task StopAsync();

    Task StartAsync();
}
