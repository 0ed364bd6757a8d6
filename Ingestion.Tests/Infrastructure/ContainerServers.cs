using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// The same three servers in containers, for machines where a Docker engine answers
/// (this project's CI machines have none: there infra/ starts them natively).
/// </summary>
public sealed class ContainerServers : IAsyncDisposable
{
    private const string User = "ingestion";
    private const string Password = "ingestion-test";

    private readonly PostgreSqlContainer _postgres = new PostgreSqlBuilder("postgres:15")
        .WithUsername(User).WithPassword(Password).WithDatabase(User).Build();

    private readonly RabbitMqContainer _rabbit = new RabbitMqBuilder("rabbitmq:3.10-management")
        .WithUsername(User).WithPassword(Password).WithPortBinding(15672, true).Build();

    private readonly IContainer _minio = new ContainerBuilder("minio/minio:RELEASE.2024-06-13T22-53-53Z")
        .WithCommand("server", "/data")
        .WithEnvironment("MINIO_ROOT_USER", User)
        .WithEnvironment("MINIO_ROOT_PASSWORD", Password)
        .WithPortBinding(9000, true)
        .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPath("/minio/health/live").ForPort(9000)))
        .Build();

    public static bool DockerAnswers()
    {
        try
        {
            return Shell.RunAsync("docker", "info", "--format", "{{.ServerVersion}}").Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            return false;
        }
    }

    public async Task<Servers> StartAsync()
    {
        await Task.WhenAll(_postgres.StartAsync(), _rabbit.StartAsync(), _minio.StartAsync());
        return new Servers(
            _postgres.Hostname, _postgres.GetMappedPublicPort(5432), User, Password,
            _rabbit.Hostname, _rabbit.GetMappedPublicPort(5672), _rabbit.GetMappedPublicPort(15672), User, Password,
            $"http://{_minio.Hostname}:{_minio.GetMappedPublicPort(9000)}", User, Password,
            new ContainerBroker(_rabbit));
    }

    public async ValueTask DisposeAsync()
    {
        await _postgres.DisposeAsync();
        await _rabbit.DisposeAsync();
        await _minio.DisposeAsync();
    }

    private sealed class ContainerBroker(IContainer rabbit) : IBrokerControl
    {
        public Task StopAsync() => rabbit.ExecAsync(["rabbitmqctl", "stop_app"]);

        public async Task StartAsync()
        {
            await rabbit.ExecAsync(["rabbitmqctl", "start_app"]);
            await rabbit.ExecAsync(["rabbitmqctl", "await_startup"]);
        }
    }
}
