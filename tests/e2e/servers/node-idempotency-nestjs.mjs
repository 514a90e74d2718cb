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
//
// start({ keepServerErrors: false }) passes a storage adapter of its own instead (the
// README allows "an instance of Storage"): the memory adapter's map, but a final answer
// of 5xx is not kept, so the key is free again and the next request with it runs the
// handler (which calls the provider with the same provider key). Without it, a handler's
// 503 (the provider's outcome unknown) is what every later request with that key gets.
import 'reflect-metadata';
import { Body, Controller, Headers, HttpCode, HttpException, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Idempotent, NodeIdempotencyModule, StorageAdapterEnum } from '@node-idempotency/nestjs';
import { newShop } from './shop.mjs';

export const name = '@node-idempotency/nestjs';
// [package, the package whose dependency it is]: the core the interceptor itself loads.
export const packages = ['@node-idempotency/nestjs', ['@node-idempotency/core', '@node-idempotency/nestjs'], '@nestjs/core', '@nestjs/platform-express'];

/** Starts the shop's API at `${url}/api/charges`. */
export async function start({ keepServerErrors = true } = {}) {
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
    imports: [NodeIdempotencyModule.forRootAsync({
      storage: { adapter: keepServerErrors ? StorageAdapterEnum.memory : new ForgetServerErrors() },
    })],
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

/**
 * @node-idempotency's StorageAdapter (setIfNotExists, set, get) over a Map, as its memory
 * adapter is, less the TTL (the tests are short), except that a record whose final
 * answer is a 5xx is deleted rather than kept.
 */
class ForgetServerErrors {
  #records = new Map();
  async setIfNotExists(key, value) {
    if (this.#records.has(key)) return false;
    this.#records.set(key, value);
    return true;
  }
  async set(key, value) {
    const status = JSON.parse(value).response?.additional?.statusCode;
    if (Number(status) >= 500) this.#records.delete(key);
    else this.#records.set(key, value);
  }
  async get(key) {
    return this.#records.get(key);
  }
}
