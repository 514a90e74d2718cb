// @node-idempotency/nestjs (npm; an interceptor over @node-idempotency/core) on NestJS
// with its Express platform, wired as its README says: NodeIdempotencyModule.forRootAsync
// with the memory storage adapter, and @Idempotent() on the payment handler. Decorators
// are applied as plain calls (this file is JavaScript, not TypeScript).
// What it does, from its source (core 1.0.7, as the nestjs package pins it): it stores the
// key as "in progress" with a fingerprint of the parsed body (setIfNotExists: no race),
// answers a repeat while that is so with 409 and Retry-After: 1 (before looking at the
// fingerprint, so a key reused with other details is 409 too while the first runs), a
// finished key with other details with 422, and a finished key with the stored status and
// body and Idempotent-Replayed: true. Every answer is stored, errors included: a 402, a
// 503 from the handler is replayed as it was for the key's lifetime (24 h by default).
// The key is scoped to method and url: the same key on another path is another key.
import 'reflect-metadata';
import { Body, Controller, Headers, HttpCode, HttpException, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Idempotent, NodeIdempotencyModule, StorageAdapterEnum } from '@node-idempotency/nestjs';
import { newShop } from './shop.mjs';

export const name = '@node-idempotency/nestjs';
export const packages = ['@node-idempotency/nestjs', '@node-idempotency/core', '@nestjs/core', '@nestjs/platform-express'];

/** Starts the shop's API at `${url}/api/charges`. */
export async function start() {
  const shop = newShop();

  class ChargesController {
    async charge(details, key) {
      const { status, body } = await shop.pay(details, key);
      if (status >= 400) throw new HttpException(body, status);
      return body;
    }
  }
  // @Post('charges') @HttpCode(201) @Idempotent() charge(@Body() details, @Headers('idempotency-key') key)
  Body()(ChargesController.prototype, 'charge', 0);
  Headers('idempotency-key')(ChargesController.prototype, 'charge', 1);
  decorateMethod(ChargesController, 'charge', [Post('charges'), HttpCode(201), Idempotent()]);
  Controller('api')(ChargesController);

  class AppModule {}
  Module({
    imports: [NodeIdempotencyModule.forRootAsync({ storage: { adapter: StorageAdapterEnum.memory } })],
    controllers: [ChargesController],
  })(AppModule);

  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer();
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    shop,
    close: async () => {
      shop.release();
      server.closeAllConnections();
      await app.close();
    },
  };
}

function decorateMethod(cls, method, decorators) {
  const proto = cls.prototype;
  const descriptor = Reflect.decorate(decorators, proto, method, Object.getOwnPropertyDescriptor(proto, method));
  Object.defineProperty(proto, method, descriptor);
}
