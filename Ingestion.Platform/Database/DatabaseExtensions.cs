using Ingestion.Platform.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Platform.Database;

public static class DatabaseExtensions
{
    /// <summary>
    /// One <see cref="NpgsqlDataSource"/> for the process, and the numbered migrations
    /// applied before anything else starts.
    /// </summary>
    public static IHostApplicationBuilder AddIngestionDatabase(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("Postgres");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                "ConnectionStrings:Postgres is not set (environment variable ConnectionStrings__Postgres).");
        }

        builder.Services.AddSingleton(sp =>
        {
            var dataSource = new NpgsqlDataSourceBuilder(connectionString);
            dataSource.UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>());
            dataSource.ConnectionStringBuilder.ApplicationName ??= builder.Environment.ApplicationName;
            return dataSource.Build();
        });
        builder.Services.AddHostedService<DatabaseMigrator>();
        builder.Services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: [HealthTags.Ready]);
        return builder;
    }
}
