using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Statements;
using Ingestion.Contracts.Uploads;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ingestion.Sample.Publisher;

public static class SampleExtensions
{
    /// <summary>Settings validated at start: a missing one stops the process with a message that names it.</summary>
    public static IHostApplicationBuilder AddSampleSettings(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SampleOptions>().BindConfiguration(SampleOptions.Section)
            .Require("Sample:CsvPath", o => File.Exists(o.CsvPath), "must name a readable file")
            .Require("Sample:Bucket", o => o.Bucket.Length > 0)
            .Require("Sample:TenantId", o => o.TenantId.Length > 0)
            .Require("Sample:Dataset", o => o.Dataset.Length > 0)
            .Require("Sample:AccountId", o => o.AccountId > 0)
            .Require("Sample:To", o => o.To >= o.From, "must not be before Sample:From")
            .Require("Sample:OutcomeQueue", o => o.OutcomeQueue.Length > 0)
            .Require("Sample:ApiUrl", o => o.ApiUrl is { IsAbsoluteUri: true })
            .Require("Sample:ApiKey", o => o.ApiKey.Length > 0)
            .ValidateOnStart();
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section)
            .Require("RabbitMq:Host", o => o.Host.Length > 0)
            .Require("RabbitMq:Port", o => o.Port is > 0 and < 65536)
            .Require("RabbitMq:Username", o => o.Username.Length > 0)
            .Require("RabbitMq:Password", o => o.Password.Length > 0)
            .ValidateOnStart();
        builder.Services.AddOptions<S3Options>().BindConfiguration(S3Options.Section).ValidateOnStart();
        builder.Services.AddSingleton<IAmazonS3>(services => CreateS3(services.GetRequiredService<IOptions<S3Options>>().Value));
        return builder;
    }

    /// <summary>
    /// MassTransit on the broker Ingestion uses, with request clients for the submit commands and this
    /// service's own queue for job outcomes.
    /// </summary>
    public static IHostApplicationBuilder AddIngestionClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<JobOutcomes>();

        // The outcome queue is bound before the flow publishes anything, so no outcome can slip past it.
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(host => host.WaitUntilStarted = true);
        builder.Services.AddMassTransit(bus =>
        {
            // MassTransit reports its configuration to usage-tracking.masstransit.io unless told not to.
            bus.DisableUsageTelemetry();
            bus.AddConsumer<JobOutcomeConsumer>();

            // Published: the service's queues are bound to the commands' exchanges, so the caller needs
            // no queue names. The answer is JobAccepted, or a fault the client throws; a timeout only on a broker
            // where no worker of the job's kind has started yet (nothing is bound to the exchange, so RabbitMQ drops it).
            bus.AddRequestClient<SubmitUpload>(RequestTimeout.After(s: 30));
            bus.AddRequestClient<BuildStatement>(RequestTimeout.After(s: 30));
            bus.UsingRabbitMq((context, rabbit) =>
            {
                var options = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                rabbit.Host(options.Host, (ushort)options.Port, options.VirtualHost, host =>
                {
                    host.Username(options.Username);
                    host.Password(options.Password);
                });
                var sample = context.GetRequiredService<IOptions<SampleOptions>>().Value;
                rabbit.ReceiveEndpoint(sample.OutcomeQueue, endpoint =>
                {
                    endpoint.ConfigureConsumer<JobOutcomeConsumer>(context);
                });
            });
        });
        return builder;
    }

    private static OptionsBuilder<T> Require<T>(this OptionsBuilder<T> options, string key, Func<T, bool> valid, string what = "is required")
        where T : class =>
        options.Validate(valid, $"{key} {what}.");

    private static AmazonS3Client CreateS3(S3Options options)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (options.ServiceUrl.Length > 0)
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        return options.AccessKey.Length == 0
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);
    }
}
